/*
 * How the registry client waits (registry/http.c, route.c, probe.c): a
 * transfer called off ends within CANCEL_POLL_MS with -EINTR; a thread
 * that may not wait gets -CANCEL_WOULD_WAIT before any connection; a
 * server that trickles below the speed floor is given up; a 429 reaches
 * the caller at once as -EAGAIN, its RateLimit headers kept; a host that
 * accepts and never answers costs one bounded wait, then fails fast until
 * the prober finds it answering; cancel_all() ends everything.
 *
 * The servers are fakes in threads of this test, on loopback: what they do
 * (hang, trickle, answer 429) is what a real registry cannot be made to do
 * on cue.  Each answers one request per connection (Connection: close).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "common/cancel.h"
#include "common/clock.h"
#include "common/log.h"
#include "registry/client.h"

enum fake_mode {
	FAKE_ANSWER,  /* /v2/ 200, anything else 404 */
	FAKE_HANG,    /* accept, read, never answer */
	FAKE_TRICKLE, /* /v2/ 200; anything else 200 with a body at 20 bytes a second */
	FAKE_429,     /* /v2/ 200; anything else 429 with rate limit headers */
	FAKE_HANG_OBJECTS, /* /v2/ 200; anything else never answered */
};

struct fake {
	int lfd;
	int port;
	int mode;     /* enum fake_mode, atomic: the test switches it */
	bool stop;    /* atomic */
	int accepted; /* atomic: connections accepted */
	int held[64]; /* connections left hanging */
	int n_held;
	pthread_t thread;
};

static void fake_send(int fd, const char *s)
{
	ssize_t n = send(fd, s, strlen(s), MSG_NOSIGNAL);

	(void)n;
}

/* Answer the request read on @fd (@req) as @f's mode says; false when the
 * connection is to be left open (hanging). */
static bool fake_answer(struct fake *f, int fd, const char *req)
{
	int mode = __atomic_load_n(&f->mode, __ATOMIC_ACQUIRE);
	bool v2 = strncmp(req, "GET /v2/ ", 9) == 0;
	static const char body429[] = "{\"errors\":[{\"code\":\"TOOMANYREQUESTS\",\"message\":\"x\"}]}";
	char hdr[1024];

	if (mode == FAKE_HANG || (mode == FAKE_HANG_OBJECTS && !v2))
		return false;
	if (v2 || mode == FAKE_ANSWER) {
		fake_send(fd, v2 ? "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
			     : "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
		return true;
	}
	if (mode == FAKE_429) {
		snprintf(hdr, sizeof(hdr),
			 "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3600\r\n"
			 "RateLimit-Limit: 100;w=21600\r\nratelimit-remaining: 0;w=21600\r\n"
			 "docker-ratelimit-source: 127.0.0.1\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
			 strlen(body429), body429);
		fake_send(fd, hdr);
		return true;
	}
	fake_send(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		      "Content-Length: 100000\r\nConnection: close\r\n\r\n");
	while (!__atomic_load_n(&f->stop, __ATOMIC_ACQUIRE) &&
	       send(fd, "x", 1, MSG_NOSIGNAL) == 1)
		usleep(50000);
	return true;
}

static void fake_release_held(struct fake *f)
{
	for (int i = 0; i < f->n_held; i++)
		close(f->held[i]);
	f->n_held = 0;
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;

	while (!__atomic_load_n(&f->stop, __ATOMIC_ACQUIRE)) {
		struct pollfd p = {.fd = f->lfd, .events = POLLIN};
		char req[4096];
		ssize_t n;
		int fd;

		int mode = __atomic_load_n(&f->mode, __ATOMIC_ACQUIRE);

		if (mode != FAKE_HANG && mode != FAKE_HANG_OBJECTS)
			fake_release_held(f);
		if (poll(&p, 1, 50) <= 0)
			continue;
		fd = accept(f->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		__atomic_add_fetch(&f->accepted, 1, __ATOMIC_RELEASE);
		p.fd = fd;
		n = poll(&p, 1, 2000) > 0 ? recv(fd, req, sizeof(req) - 1, 0) : 0;
		req[n > 0 ? n : 0] = '\0';
		if (fake_answer(f, fd, req) || f->n_held == 64)
			close(fd);
		else
			f->held[f->n_held++] = fd;
	}
	fake_release_held(f);
	return NULL;
}

/* Start fake @f on loopback @port (0: any free one). */
static void fake_start_on(struct fake *f, enum fake_mode mode, int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				.sin_port = htons((uint16_t)port)};
	socklen_t len = sizeof(a);
	int one = 1;

	memset(f, 0, sizeof(*f));
	f->mode = mode;
	f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (f->lfd >= 0)
		setsockopt(f->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (f->lfd < 0 || bind(f->lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(f->lfd, 16) < 0 || getsockname(f->lfd, (struct sockaddr *)&a, &len) < 0) {
		perror("fake server");
		exit(1);
	}
	f->port = ntohs(a.sin_port);
	pthread_create(&f->thread, NULL, fake_main, f);
}

static void fake_start(struct fake *f, enum fake_mode mode)
{
	fake_start_on(f, mode, 0);
}

static void fake_stop(struct fake *f)
{
	__atomic_store_n(&f->stop, true, __ATOMIC_RELEASE);
	pthread_join(f->thread, NULL);
	close(f->lfd);
}

static void fake_set_mode(struct fake *f, enum fake_mode mode)
{
	__atomic_store_n(&f->mode, mode, __ATOMIC_RELEASE);
}

/* A client with @connect_timeout and @retries, and its registry for @f. */
static struct reg_client *client_for(const struct fake *f, long connect_timeout, int retries,
				     struct reg_registry **r)
{
	struct reg_client_opts o = {.connect_timeout = connect_timeout, .stall_timeout = 2,
				    .retries = retries};
	struct reg_client *c = NULL;
	char host[64];

	snprintf(host, sizeof(host), "127.0.0.1:%d", f->port);
	if (reg_client_new(&o, &c) < 0 || reg_client_registry(c, host, r) < 0) {
		fprintf(stderr, "no client\n");
		exit(1);
	}
	return c;
}

static bool past(void *arg)
{
	return mono_now() >= *(double *)arg;
}

/* A manifest GET of test/repo:latest on @r. */
static int get(struct reg_registry *r)
{
	struct reg_fetched m;
	int ret = reg_manifest_get(r, "test/repo", "latest", &m);

	reg_fetched_release(&m);
	return ret;
}

static void test_called_off_mid_transfer(void)
{
	struct fake f;
	struct reg_registry *r;
	struct reg_client *c;
	double when, t0, took;
	struct cancel_scope old;
	int ret;

	fake_start(&f, FAKE_TRICKLE);
	c = client_for(&f, 5, 2, &r);
	t0 = mono_now();
	when = t0 + 0.3;
	old = cancel_scope_set((struct cancel_scope){past, &when, false});
	ret = get(r);
	took = mono_now() - t0;
	cancel_scope_set(old);
	CHECK_EQ(ret, -EINTR);
	CHECK(took >= 0.3 && took < 1.0, "a trickled transfer called off at 0.3 s took %.2f s", took);
	/* not held against the host: the next request is asked, and trickles */
	when = mono_now() + 0.2;
	old = cancel_scope_set((struct cancel_scope){past, &when, false});
	CHECK_EQ(get(r), -EINTR);
	cancel_scope_set(old);
	reg_client_free(c);
	fake_stop(&f);
}

static void test_may_not_wait(void)
{
	struct fake f;
	struct reg_registry *r;
	struct reg_client *c;
	struct cancel_scope old;
	double t0;

	fake_start(&f, FAKE_ANSWER);
	c = client_for(&f, 5, 2, &r);
	t0 = mono_now();
	old = cancel_scope_set((struct cancel_scope){NULL, NULL, true});
	CHECK_EQ(get(r), -CANCEL_WOULD_WAIT);
	CHECK_EQ(reg_ping(r), -CANCEL_WOULD_WAIT);
	cancel_scope_set(old);
	CHECK(mono_now() - t0 < 0.1, "may not wait, yet took %.2f s", mono_now() - t0);
	CHECK_EQ(__atomic_load_n(&f.accepted, __ATOMIC_ACQUIRE), 0);
	/* nothing was held against the host */
	CHECK_EQ(get(r), -ENOENT);
	/* what is at hand needs no wait: the scheme is settled */
	old = cancel_scope_set((struct cancel_scope){NULL, NULL, true});
	CHECK_EQ(reg_ping(r), 0);
	cancel_scope_set(old);
	reg_client_free(c);
	fake_stop(&f);
}

static void test_below_the_speed_floor(void)
{
	struct fake f;
	struct reg_registry *r;
	struct reg_client *c;
	double t0, took;

	fake_start(&f, FAKE_TRICKLE);
	c = client_for(&f, 5, 0, &r); /* stall_timeout 2 s, no retries */
	t0 = mono_now();
	CHECK_EQ(get(r), -EIO);
	took = mono_now() - t0;
	CHECK(took >= 1.5 && took < 8, "20 bytes a second given up after %.2f s", took);
	reg_client_free(c);
	fake_stop(&f);
}

static void test_429_at_once(void)
{
	struct fake f;
	struct reg_registry *r;
	struct reg_client *c;
	char text[REG_RATELIMIT_TEXT_MAX];
	double t0;

	fake_start(&f, FAKE_429);
	c = client_for(&f, 5, 2, &r);
	CHECK_EQ(reg_registry_ratelimit(r, text, sizeof(text)), -ENOENT);
	t0 = mono_now();
	CHECK_EQ(get(r), -EAGAIN);
	CHECK(mono_now() - t0 < 1.0, "a 429 took %.2f s", mono_now() - t0);
	CHECK_EQ(reg_registry_ratelimit(r, text, sizeof(text)), 0);
	CHECK(strstr(text, "limit=100;w=21600 remaining=0;w=21600 source=127.0.0.1 "
			   "retry-after=3600 seen=") == text, "ratelimit text '%s'", text);
	CHECK_EQ(reg_registry_ratelimit(r, text, 10), -ERANGE);
	reg_client_free(c);
	fake_stop(&f);
}

static void test_hung_host(void)
{
	struct fake f;
	struct reg_registry *r;
	struct reg_client *c;
	double t0, took;
	int ret = -EIO;

	fake_start(&f, FAKE_HANG);
	c = client_for(&f, 1, 2, &r); /* each try waits 1 s */
	t0 = mono_now();
	CHECK_EQ(get(r), -EIO);
	took = mono_now() - t0;
	CHECK(took >= 1.0 && took < 4.0, "the first request to a hung host took %.2f s", took);
	t0 = mono_now();
	CHECK_EQ(get(r), -EIO);
	CHECK_EQ(reg_ping(r), -EIO);
	took = mono_now() - t0;
	CHECK(took < 0.2, "requests to a host known hung took %.2f s", took);

	/* it answers again: the prober notices (probes at 1, 3, 7 s ...) */
	fake_set_mode(&f, FAKE_ANSWER);
	t0 = mono_now();
	while (mono_now() - t0 < 15 && (ret = get(r)) == -EIO)
		usleep(100000);
	CHECK_EQ(ret, -ENOENT);
	reg_client_free(c);
	fake_stop(&f);
}

static void test_hung_request(void)
{
	struct fake f;
	struct reg_registry *r;
	struct reg_client *c;
	double t0, took;

	fake_start(&f, FAKE_HANG_OBJECTS);
	c = client_for(&f, 1, 1, &r); /* each try waits 1 s, one retry */
	CHECK_EQ(reg_ping(r), 0);
	t0 = mono_now();
	CHECK_EQ(get(r), -EIO);
	took = mono_now() - t0;
	CHECK(took >= 2.0 && took < 5.0, "a request never answered took %.2f s", took);
	/* the host answers /v2/: only that request hangs, the host is not marked */
	t0 = mono_now();
	CHECK_EQ(get(r), -EIO);
	took = mono_now() - t0;
	CHECK(took >= 2.0, "a request to a host that answers /v2/ failed fast (%.2f s)", took);
	reg_client_free(c);
	fake_stop(&f);
}

static void test_refusing_host(void)
{
	struct fake f;
	struct reg_registry *r;
	struct reg_client *c;
	double t0;
	int port, ret = -EIO;

	fake_start(&f, FAKE_ANSWER);
	c = client_for(&f, 5, 2, &r);
	CHECK_EQ(get(r), -ENOENT); /* the scheme is settled */
	port = f.port;
	fake_stop(&f); /* nothing listens: connections are refused */
	CHECK_EQ(get(r), -EIO);
	/* known down: asked again (it costs nothing), but not retried */
	t0 = mono_now();
	CHECK_EQ(get(r), -EIO);
	CHECK(mono_now() - t0 < 0.15, "a refusing host known down took %.2f s", mono_now() - t0);
	/* back: the next request finds it, without waiting for the prober */
	fake_start_on(&f, FAKE_ANSWER, port);
	t0 = mono_now();
	ret = get(r);
	CHECK_EQ(ret, -ENOENT);
	CHECK(mono_now() - t0 < 0.5, "a host back took %.2f s", mono_now() - t0);
	reg_client_free(c);
	fake_stop(&f);
}

/* Last: cancel_all() cannot be undone. */
struct in_flight {
	struct reg_registry *r;
	int ret;
	double ended;
};

static void *get_in_thread(void *arg)
{
	struct in_flight *x = arg;

	x->ret = get(x->r);
	x->ended = mono_now();
	return NULL;
}

static void test_cancel_all(void)
{
	struct fake slow, hung;
	struct reg_registry *r, *rh;
	struct reg_client *c, *ch;
	struct in_flight x = {0};
	pthread_t t;
	double at;

	fake_start(&slow, FAKE_TRICKLE);
	fake_start(&hung, FAKE_HANG);
	c = client_for(&slow, 5, 2, &r);
	ch = client_for(&hung, 1, 2, &rh);
	CHECK_EQ(get(rh), -EIO); /* marked down: its prober runs */
	x.r = r;
	pthread_create(&t, NULL, get_in_thread, &x);
	usleep(300000);
	at = mono_now();
	cancel_all();
	pthread_join(t, NULL);
	CHECK_EQ(x.ret, -EINTR);
	/* left alone it trickles on to the 2 s stall limit, and is retried: 1.2 s
	 * tells the two apart on a loaded machine (0.7 s seen under ASan) */
	CHECK(x.ended - at < 1.2, "a transfer ended %.2f s after cancel_all", x.ended - at);
	at = mono_now();
	CHECK_EQ(get(r), -EINTR);
	reg_client_free(ch);
	reg_client_free(c);
	CHECK(mono_now() - at < 0.5, "after cancel_all, a request and two clients' ends took %.2f s",
	      mono_now() - at);
	fake_stop(&slow);
	fake_stop(&hung);
}

int main(void)
{
	static const struct check_test tests[] = {
		{"a transfer called off ends within CANCEL_POLL_MS with EINTR",
		 test_called_off_mid_transfer},
		{"a thread that may not wait gets CANCEL_WOULD_WAIT, and no connection is made",
		 test_may_not_wait},
		{"a body trickling below the speed floor is given up", test_below_the_speed_floor},
		{"a 429 is EAGAIN at once, its RateLimit headers kept", test_429_at_once},
		{"a hung host costs one bounded wait, then fails fast until the prober sees it back",
		 test_hung_host},
		{"a request never answered by a host that answers /v2/ does not mark the host",
		 test_hung_request},
		{"a host refusing connections is still asked, without retries, and found back at once",
		 test_refusing_host},
		{"cancel_all ends transfers in flight and fails new ones at once", test_cancel_all},
	};

	log_setup(stderr, getenv("REGFS_TEST_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_ERR);
	return check_run(tests, sizeof(tests) / sizeof(tests[0]));
}
