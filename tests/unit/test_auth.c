/*
 * Unit tests for the token list of registry/auth.c: a registry keeps at
 * most REG_TOKEN_SCOPES_MAX scopes, drops the least recently used first
 * (a token sent counts as a use), never drops an entry a thread holds (a
 * fetch in flight, a reader waiting for it), goes over the cap rather than
 * wait when every entry is held, and comes back under it once they are let
 * go.  No network: the entries are made and used as auth_fetch_token and
 * auth_header_for make and use them, on a registry of a client that never
 * sends a request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/secret.h"
#include "registry/client.h"
#include "registry/http.h"

#include "check.h"

#define CAP REG_TOKEN_SCOPES_MAX

static struct reg_client *client;

/* A registry with an empty token list, speaking Bearer (borrowed). */
static struct reg_registry *fresh_registry(const char *host)
{
	struct reg_registry *r = NULL;

	CHECK(reg_client_registry(client, host, &r) == 0 && r, "registry '%s'", host);
	r->auth = AUTH_BEARER;
	return r;
}

static void scope_of(char *buf, size_t n, unsigned i)
{
	snprintf(buf, n, "repository:many/r%04u:pull", i);
}

/* Whether @r holds an entry for repository i, without making it the most
 * recently used (as the list is searched by the code). */
static bool has_scope(struct reg_registry *r, unsigned i)
{
	char scope[64];

	scope_of(scope, sizeof(scope), i);
	for (struct token *t = r->tokens; t; t = t->next)
		if (strcmp(t->scope, scope) == 0)
			return true;
	return false;
}

/* What auth_fetch_token leaves behind for repository @i: an entry with a
 * valid token, let go of.  With @keep, the entry stays held (*kept). */
static void fetched(struct reg_registry *r, unsigned i, bool keep, struct token **kept)
{
	char scope[64];
	struct token *t;

	scope_of(scope, sizeof(scope), i);
	pthread_mutex_lock(&r->lock);
	t = token_get_locked(r, scope);
	CHECK(t != NULL, "entry for %s", scope);
	if (t && !t->value) {
		t->value = strdup("a-token");
		t->renew = mono_now() + 3600;
	}
	if (t && !keep)
		token_put_locked(t);
	pthread_mutex_unlock(&r->lock);
	if (kept)
		*kept = t;
}

static unsigned count_locked(struct reg_registry *r)
{
	unsigned n = 0;

	for (struct token *t = r->tokens; t; t = t->next)
		n++;
	return n;
}

static void test_cap_drops_least_recently_used(void)
{
	struct reg_registry *r = fresh_registry("cap.test:5000");

	for (unsigned i = 0; i < CAP + 20; i++)
		fetched(r, i, false, NULL);
	CHECK_EQ(r->n_tokens, CAP);
	CHECK_EQ(count_locked(r), CAP);
	for (unsigned i = 0; i < 20; i++)
		CHECK(!has_scope(r, i), "scope %u, among the 20 oldest, was kept", i);
	for (unsigned i = 20; i < CAP + 20; i++)
		CHECK(has_scope(r, i), "scope %u, among the newest, was dropped", i);
}

static void test_a_token_sent_counts_as_a_use(void)
{
	struct reg_registry *r = fresh_registry("use.test:5000");
	char scope[64];
	char *auth;

	for (unsigned i = 0; i < CAP; i++)
		fetched(r, i, false, NULL);
	/* the oldest is sent again: it becomes the most recently used */
	scope_of(scope, sizeof(scope), 0);
	auth = auth_header_for(r, scope);
	CHECK(auth && strcmp(auth, "Bearer a-token") == 0, "header %s", auth ? "wrong" : "missing");
	secret_free(auth);
	fetched(r, CAP, false, NULL);
	CHECK(has_scope(r, 0), "the token just sent was dropped");
	CHECK(!has_scope(r, 1), "the least recently used was kept");
	CHECK_EQ(r->n_tokens, CAP);
}

static void test_held_entries_are_never_dropped(void)
{
	struct reg_registry *r = fresh_registry("held.test:5000");
	struct token *held[3];
	unsigned held_i[3] = {0, 1, 5};

	/* a fetch in flight on the oldest ones: held while the lock is let go */
	for (unsigned k = 0; k < 3; k++)
		fetched(r, held_i[k], true, &held[k]);
	for (unsigned i = 0; i < CAP + 40; i++)
		if (i != 0 && i != 1 && i != 5)
			fetched(r, i, false, NULL);
	CHECK_EQ(r->n_tokens, CAP);
	for (unsigned k = 0; k < 3; k++) {
		CHECK(has_scope(r, held_i[k]), "held scope %u was dropped", held_i[k]);
		/* still the same entry, usable (ASan would see a use after free) */
		CHECK(held[k]->value && strcmp(held[k]->value, "a-token") == 0, "entry %u", k);
	}
	pthread_mutex_lock(&r->lock);
	for (unsigned k = 0; k < 3; k++)
		token_put_locked(held[k]);
	pthread_mutex_unlock(&r->lock);
	/* let go of, they are the least recently used: the next ones go first */
	fetched(r, CAP + 40, false, NULL);
	CHECK(!has_scope(r, 0), "scope 0 kept after it was let go of");
	CHECK(has_scope(r, 1) && has_scope(r, 5), "more than one dropped for one added");
	CHECK_EQ(r->n_tokens, CAP);
}

static void test_all_held_goes_over_then_back(void)
{
	struct reg_registry *r = fresh_registry("full.test:5000");
	struct token **held = calloc(CAP + 10, sizeof(*held));

	/* every entry held (CAP + 10 fetches in flight at once): over the cap,
	 * none dropped, nobody waits */
	for (unsigned i = 0; i < CAP + 10; i++)
		fetched(r, i, true, &held[i]);
	CHECK_EQ(r->n_tokens, CAP + 10);
	CHECK_EQ(count_locked(r), CAP + 10);
	pthread_mutex_lock(&r->lock);
	for (unsigned i = 0; i < CAP + 10; i++)
		token_put_locked(held[i]);
	pthread_mutex_unlock(&r->lock);
	/* the next scope made brings the list back to the cap, oldest first */
	fetched(r, CAP + 10, false, NULL);
	CHECK_EQ(r->n_tokens, CAP);
	CHECK_EQ(count_locked(r), CAP);
	for (unsigned i = 0; i < 11; i++)
		CHECK(!has_scope(r, i), "scope %u, among the oldest, was kept", i);
	CHECK(has_scope(r, CAP + 10), "the new scope was dropped");
	free(held);
}

static void test_same_scope_is_one_entry(void)
{
	struct reg_registry *r = fresh_registry("same.test:5000");
	struct token *a, *b;

	fetched(r, 7, true, &a);
	fetched(r, 7, true, &b);
	CHECK(a == b, "two entries for one scope");
	CHECK_EQ(r->n_tokens, 1);
	CHECK_EQ(a->users, 2);
	pthread_mutex_lock(&r->lock);
	token_put_locked(a);
	token_put_locked(b);
	pthread_mutex_unlock(&r->lock);
	CHECK_EQ(a->users, 0);
}

int main(void)
{
	static const struct check_test tests[] = {
		{"cap_drops_least_recently_used", test_cap_drops_least_recently_used},
		{"a_token_sent_counts_as_a_use", test_a_token_sent_counts_as_a_use},
		{"held_entries_are_never_dropped", test_held_entries_are_never_dropped},
		{"all_held_goes_over_then_back", test_all_held_goes_over_then_back},
		{"same_scope_is_one_entry", test_same_scope_is_one_entry},
	};
	int ret;

	log_setup(stderr, LOG_LVL_ERR);
	if (reg_client_new(NULL, &client) < 0) {
		fprintf(stderr, "no client\n");
		return 1;
	}
	ret = check_run(tests, sizeof(tests) / sizeof(tests[0]));
	reg_client_free(client); /* frees every registry's list: ASan sees leaks */
	return ret;
}
