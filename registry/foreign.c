/*
 * Foreign layers: blobs a manifest says live at URLs outside the registry
 * (Windows base layers).  They are fetched with no credentials at all,
 * whatever the registry's, over https, or over plain http only by the
 * plain-HTTP rule (loopback hosts and -o insecure= hosts); redirects keep
 * to the same rule.  URLs may carry signed queries, so only their host is
 * ever logged.  The caller verifies the digest (the cache writer does).
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "registry/client.h"
#include "registry/http.h"

/* "host[:port]" of @url (new string) or NULL when it is no http(s) URL. */
static char *url_host(const char *url)
{
	CURLU *u = curl_url();
	char *host = NULL, *port = NULL, *scheme = NULL, *ret = NULL;

	if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		goto out;
	if (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0)
		goto out;
	if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK && port) {
		if (asprintf(&ret, "%s:%s", host, port) < 0)
			ret = NULL;
	} else {
		ret = strdup(host);
	}
out:
	curl_free(host);
	curl_free(port);
	curl_free(scheme);
	curl_url_cleanup(u);
	return ret;
}

int reg_blob_stream_url(struct reg_client *c, const char *url, reg_sink_fn sink, void *arg)
{
	struct http_call h = {0};
	char *host = url_host(url);
	bool plain = false;
	int ret;

	if (!host) {
		log_err("foreign layer: not an http(s) URL, not fetched");
		return -EINVAL;
	}
	if (strncmp(url, "http://", 7) == 0) {
		/* "host[:port]", as -o insecure= names hosts */
		plain = client_allows_plain(c, host);
		if (!plain) {
			log_err("foreign layer at '%s': plain HTTP is not allowed for this host; "
				"see -o insecure",
				host);
			free(host);
			return -EACCES;
		}
	}
	h.url = (char *)url;
	h.auth = NULL; /* never: this host is not the registry */
	h.sink = sink;
	h.sink_arg = arg;
	h.answer_wait = (double)c->connect_timeout;
	ret = http_perform(c, plain, &h);
	if (http_call_off(ret))
		goto out;
	if (ret == 0 && h.sink_err)
		ret = h.sink_err;
	else if (ret == 0 && (h.status < 200 || h.status >= 300))
		ret = reg_status_errno(h.status, NULL);
	if (ret < 0 && h.status && !h.sink_err)
		log_err("foreign layer at '%s': HTTP %ld", host, h.status);
	else if (ret < 0)
		log_err("foreign layer at '%s': %s", host, h.sink_err ? strerror(-ret) : h.errbuf);
out:
	http_call_release(&h);
	free(host);
	return ret;
}
