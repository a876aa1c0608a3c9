/* tests/vectors/options.json, the contract every surface shares: each
 * option name maps to its value through wsig_option_value (and back through
 * wsig_option_name), and each numeric setting takes exactly its range. */
#include "testlib.h"
#include "walletsign.h"

#include <stdio.h>
#include <string.h>

static void option_names(const cJSON *o)
{
    const char *what = t_str(o, "option");
    int id = (int)t_num(o, "id");
    wsig_error err = WSIG_ERROR_INIT;
    const cJSON *n;
    cJSON_ArrayForEach(n, cJSON_GetObjectItem(o, "names"))
    {
        int value = -1;
        int rc = wsig_option_value(id, n->string, &value, &err);
        CHECK(rc == WSIG_OK && value == (int)n->valuedouble, "%s: '%s' -> %s %d", what, n->string,
              wsig_status_name(rc), value);
        CHECK(t_streq(wsig_option_name(id, (int)n->valuedouble), n->string),
              "%s: name of %d is %s", what, (int)n->valuedouble,
              wsig_option_name(id, (int)n->valuedouble));
    }
    cJSON_ArrayForEach(n, cJSON_GetObjectItem(o, "also_accepted"))
    {
        int value = -1;
        int rc = wsig_option_value(id, n->string, &value, &err);
        CHECK(rc == WSIG_OK && value == (int)n->valuedouble, "%s: also '%s' -> %s %d", what,
              n->string, wsig_status_name(rc), value);
    }
    cJSON_ArrayForEach(n, cJSON_GetObjectItem(o, "refused"))
    {
        int value = -7;
        int rc = wsig_option_value(id, n->valuestring, &value, &err);
        /* The message lists what would have been accepted. */
        const cJSON *first = cJSON_GetObjectItem(o, "names")->child;
        CHECK(rc == WSIG_ERR_ARG && value == -7 && strstr(err.message, first->string),
              "%s: '%s' -> %s (%s)", what, n->valuestring, wsig_status_name(rc), err.message);
    }
    CHECK(wsig_option_name(id, 99) == NULL, "%s: a name for 99", what);
    wsig_error_clear(&err);
}

/* A client ("client.*") with one option set: no server is needed to make one. */
static int try_client_setting(const char *setting, double value, wsig_error *err)
{
    wsig_client_options o = WSIG_CLIENT_OPTIONS_INIT;
    const char *name = setting + strlen("client.");
    if (strcmp(name, "timeout") == 0)
        o.timeout = value;
    else if (strcmp(name, "attempt_timeout") == 0)
        o.attempt_timeout = value;
    else if (strcmp(name, "connect_timeout") == 0)
        o.connect_timeout = value;
    else if (strcmp(name, "retries") == 0)
        o.max_retries = (int)value;
    else if (strcmp(name, "rate") == 0)
        o.rate = value;
    else if (strcmp(name, "burst") == 0)
        o.burst = value;
    else if (strcmp(name, "max_429_attempts") == 0)
        o.max_429_attempts = (int)value;
    else if (strcmp(name, "max_retry_after") == 0)
        o.max_retry_after = value;
    else if (strcmp(name, "backoff") == 0)
        o.backoff = value;
    else if (strcmp(name, "max_response") == 0)
        o.max_response = (size_t)value;
    else
        CHECK(0, "options.json names a setting this test does not know: %s", setting);
    wsig_auth *a = NULL;
    wsig_client *c = NULL;
    int rc = wsig_auth_hmac_new(&a, "k", "s", 1, NULL, err);
    if (rc == WSIG_OK)
        rc = wsig_client_new(&c, "http://127.0.0.1:1", a, &o, err);
    wsig_client_free(c);
    wsig_auth_free(a);
    return rc;
}

/* Make the object a setting belongs to with the value; WSIG_OK or a status. */
static int try_setting(const char *setting, double value, wsig_key *p256, wsig_error *err)
{
    int rc = WSIG_ERR_ARG;
    if (strncmp(setting, "client.", 7) == 0) {
        rc = try_client_setting(setting, value, err);
    } else if (strcmp(setting, "jwt.ttl") == 0) {
        wsig_auth *a = NULL;
        wsig_jwt_options o = {(int)value, WSIG_JWT_DER};
        rc = wsig_auth_jwt_new(&a, p256, "kid", &o, err);
        wsig_auth_free(a);
    } else if (strcmp(setting, "jwt.leeway") == 0 || strcmp(setting, "jwt.max_ttl") == 0) {
        wsig_jwt_verify_options o = {0, 0};
        *(strcmp(setting, "jwt.leeway") == 0 ? &o.leeway_s : &o.max_ttl_s) = (int)value;
        wsig_jwt_claims c;
        /* Options are checked before the token: a malformed one tells them valid. */
        rc = wsig_jwt_verify(p256, &c, "x", 1, 0, &o, NULL, NULL, 0, err);
        if (rc == WSIG_INVALID)
            rc = WSIG_OK;
    } else if (strcmp(setting, "hmac.window_ms") == 0) {
        wsig_hmac_verifier *v = NULL;
        rc = wsig_hmac_verifier_new(&v, (int64_t)value, NULL, err);
        wsig_hmac_verifier_free(v);
    } else if (strcmp(setting, "hmac.cache_size") == 0) {
        wsig_hmac_verifier *v = NULL;
        rc = wsig_hmac_verifier_new(&v, 0, NULL, err);
        if (rc == WSIG_OK)
            rc = wsig_hmac_verifier_replay_cache(v, (size_t)value, err);
        wsig_hmac_verifier_free(v);
    } else if (strcmp(setting, "message.window_ms") == 0 ||
               strcmp(setting, "message.cache_size") == 0) {
        wsig_message_verifier *v = NULL;
        wsig_message_verifier_options o = {0};
        if (strcmp(setting, "message.window_ms") == 0)
            o.window_ms = (int64_t)value;
        else
            o.cache_size = (size_t)value;
        rc = wsig_message_verifier_new(&v, NULL, 0, &o, err);
        wsig_message_verifier_free(v);
    } else if (strcmp(setting, "key.rsa_bits") == 0) {
        wsig_key *k = NULL;
        rc = wsig_key_generate(&k, WSIG_KEY_RSA, (int)value, err);
        wsig_key_free(k);
    } else {
        CHECK(0, "options.json names a setting this test does not know: %s", setting);
    }
    return rc;
}

static void setting_range(const cJSON *r, wsig_key *p256)
{
    const char *setting = t_str(r, "setting");
    double min = t_num(r, "min"), max = t_num(r, "max");
    bool slow = cJSON_IsTrue(cJSON_GetObjectItem(r, "slow"));
    bool zero_default = cJSON_IsTrue(cJSON_GetObjectItem(r, "zero_is_default"));
    const cJSON *off = cJSON_GetObjectItem(r, "off"), *v;
    wsig_error err = WSIG_ERROR_INIT;
    int rc;
    /* Slow settings: the largest value would take seconds or gigabytes. */
    if (!(slow && strcmp(setting, "key.rsa_bits") == 0)) {
        rc = try_setting(setting, min, p256, &err);
        CHECK(rc == WSIG_OK, "%s = min %g: %s (%s)", setting, min, wsig_status_name(rc), err.message);
    }
    if (!slow) {
        rc = try_setting(setting, max, p256, &err);
        CHECK(rc == WSIG_OK, "%s = max %g: %s (%s)", setting, max, wsig_status_name(rc), err.message);
    }
    if (off) {
        rc = try_setting(setting, off->valuedouble, p256, &err);
        CHECK(rc == WSIG_OK, "%s = %g (off): %s (%s)", setting, off->valuedouble,
              wsig_status_name(rc), err.message);
    } else if (min - 1 != 0 || !zero_default) {
        rc = try_setting(setting, min - 1, p256, &err);
        CHECK(rc == WSIG_ERR_ARG, "%s = min - 1: %s", setting, wsig_status_name(rc));
    }
    rc = try_setting(setting, max + 1, p256, &err);
    CHECK(rc == WSIG_ERR_ARG, "%s = max + 1: %s", setting, wsig_status_name(rc));
    cJSON_ArrayForEach(v, cJSON_GetObjectItem(r, "refused"))
    {
        rc = try_setting(setting, v->valuedouble, p256, &err);
        CHECK(rc == WSIG_ERR_ARG, "%s = %g: %s", setting, v->valuedouble, wsig_status_name(rc));
    }
    if (zero_default && !(slow && strcmp(setting, "key.rsa_bits") == 0)) {
        rc = try_setting(setting, 0, p256, &err);
        CHECK(rc == WSIG_OK, "%s = 0 (the default): %s (%s)", setting, wsig_status_name(rc),
              err.message);
    }
    wsig_error_clear(&err);
}

/* Time arguments: 0 is the clock; a negative one is refused everywhere (it
 * used to stand for the clock without a word). */
static void negative_times(wsig_key *p256)
{
    wsig_error err = WSIG_ERROR_INIT;
    wsig_auth *a = NULL;
    wsig_hmac_verifier *hv = NULL;
    wsig_message_verifier *mv = NULL;
    wsig_headers h;
    wsig_message m;
    wsig_jwt_claims c;
    int rc = wsig_auth_hmac_new(&a, "k", "s", 1, NULL, &err);
    rc = rc ? rc : wsig_hmac_verifier_new(&hv, 0, NULL, &err);
    rc = rc ? rc : wsig_message_verifier_new(&mv, NULL, 0, NULL, &err);
    CHECK(rc == WSIG_OK, "set-up: %s", err.message);
    if (rc == WSIG_OK) {
        CHECK(wsig_auth_sign(a, &h, "GET", "/", NULL, 0, -1, &err) == WSIG_ERR_ARG, "sign at -1");
        CHECK(wsig_hmac_verify(hv, NULL, "GET", "/", NULL, 0, NULL, 0, -1, &err) == WSIG_ERR_ARG,
              "hmac verify at -1");
        CHECK(wsig_message_verify(mv, &m, NULL, 0, NULL, 0, -5, &err) == WSIG_ERR_ARG,
              "message verify at -5");
        CHECK(wsig_jwt_verify(p256, &c, "x", 1, -1, NULL, NULL, NULL, 0, &err) == WSIG_ERR_ARG,
              "jwt verify at -1");
    }
    wsig_auth_free(a);
    wsig_hmac_verifier_free(hv);
    wsig_message_verifier_free(mv);
    wsig_error_clear(&err);
}

void test_options(void)
{
    cJSON *v = t_vectors("options.json");
    if (!v)
        return;
    int n_opt = 0, n_range = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, cJSON_GetObjectItem(v, "options"))
    {
        option_names(o);
        n_opt++;
    }
    wsig_key *p256 = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_key_generate(&p256, WSIG_KEY_P256, 0, &err);
    CHECK(rc == WSIG_OK, "P-256 key: %s", err.message);
    cJSON_ArrayForEach(o, cJSON_GetObjectItem(v, "ranges"))
    {
        if (p256)
            setting_range(o, p256);
        n_range++;
    }
    CHECK(n_opt == 6 && n_range >= 17, "options.json: %d options, %d ranges", n_opt, n_range);
    if (p256)
        negative_times(p256);
    wsig_key_free(p256);
    cJSON_Delete(v);
    wsig_error_clear(&err);
}
