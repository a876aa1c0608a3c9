/* One auth handle type for the three protocols, so clients and shims sign
 * through a single call. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A new handle of the kind, one reference (the caller's). */
static wsig_auth *new_auth(int kind, wsig_error *err)
{
    wsig_auth *a = calloc(1, sizeof *a);
    if (!a) {
        wsig__fail(err, WSIG_ERR_NOMEM, "out of memory");
        return NULL;
    }
    a->kind = kind;
    atomic_init(&a->refs, 1);
    return a;
}

/* Hand over a filled handle, or free a partly filled one. */
static int finish(wsig_auth **out, wsig_auth *a, int rc)
{
    if (rc != WSIG_OK)
        wsig_auth_free(a);
    else
        *out = a;
    return rc;
}

int wsig_auth_jwt_new(wsig_auth **out, const wsig_key *key, const char *key_id,
                      const wsig_jwt_options *opt, wsig_error *err)
{
    *out = NULL;
    wsig__reset(err);
    wsig_auth *a = new_auth(WSIG_AUTH_JWT, err);
    return a ? finish(out, a, wsig__jwt_auth_init(&a->u.jwt, key, key_id, opt, err))
             : WSIG_ERR_NOMEM;
}

int wsig_auth_hmac_new(wsig_auth **out, const char *api_key, const char *secret,
                       size_t secret_len, const wsig_hmac_options *opt, wsig_error *err)
{
    *out = NULL;
    wsig__reset(err);
    wsig_auth *a = new_auth(WSIG_AUTH_HMAC, err);
    return a ? finish(out, a,
                      wsig__hmac_auth_init(&a->u.hmac, api_key, secret, secret_len, opt, err))
             : WSIG_ERR_NOMEM;
}

int wsig_auth_message_new(wsig_auth **out, const wsig_key *key, const wsig_message_options *opt,
                          wsig_error *err)
{
    *out = NULL;
    wsig__reset(err);
    wsig_auth *a = new_auth(WSIG_AUTH_MESSAGE, err);
    return a ? finish(out, a, wsig__message_auth_init(&a->u.msg, key, opt, err))
             : WSIG_ERR_NOMEM;
}

wsig_auth *wsig__auth_ref(wsig_auth *auth)
{
    atomic_fetch_add(&auth->refs, 1);
    return auth;
}

void wsig_auth_free(wsig_auth *auth)
{
    if (!auth || atomic_fetch_sub(&auth->refs, 1) != 1)
        return;
    switch (auth->kind) {
    case WSIG_AUTH_JWT:
        wsig__jwt_auth_clear(&auth->u.jwt);
        break;
    case WSIG_AUTH_HMAC:
        wsig__hmac_auth_clear(&auth->u.hmac);
        break;
    case WSIG_AUTH_MESSAGE:
        wsig__message_auth_clear(&auth->u.msg);
        break;
    }
    free(auth);
}

int wsig_auth_kind_of(const wsig_auth *auth)
{
    return auth->kind;
}

int wsig_auth_sign(wsig_auth *auth, wsig_headers *out, const char *method, const char *path,
                   const void *body, size_t body_len, int64_t now_ms, wsig_error *err)
{
    wsig__reset(err);
    out->count = 0;
    if (!body && body_len)
        return wsig__fail(err, WSIG_ERR_ARG, "body is NULL but body_len is not 0");
    if (wsig__check_time(now_ms, "now_ms", err) != WSIG_OK)
        return WSIG_ERR_ARG;
    /* What is signed is sent: a method with a space or CR LF in it would
     * write its own request line and headers beside a valid signature. */
    if (!wsig__http_token(method))
        return wsig__fail(err, WSIG_ERR_ARG, "the HTTP method must be a token (RFC 9110)");
    switch (auth->kind) {
    case WSIG_AUTH_JWT:
        return wsig__jwt_sign_headers(&auth->u.jwt, out, path, body, body_len, now_ms, err);
    case WSIG_AUTH_HMAC:
        return wsig__hmac_sign_headers(&auth->u.hmac, out, method, path, body, body_len, now_ms,
                                       err);
    case WSIG_AUTH_MESSAGE:
        return wsig__message_sign_headers(&auth->u.msg, out, body, body_len, now_ms, err);
    }
    return wsig__fail(err, WSIG_ERR_ARG, "unknown auth kind");
}

bool wsig__auth_sets_header(const wsig_auth *auth, const char *name)
{
    switch (auth->kind) {
    case WSIG_AUTH_JWT:
        return wsig__ascii_casecmp(name, "Authorization") == 0;
    case WSIG_AUTH_HMAC:
        return wsig__ascii_casecmp(name, auth->u.hmac.api_key_header) == 0 ||
               wsig__ascii_casecmp(name, auth->u.hmac.signature_header) == 0 ||
               wsig__ascii_casecmp(name, auth->u.hmac.timestamp_header) == 0;
    case WSIG_AUTH_MESSAGE: /* the whole family: verifiers read X-Message-* */
        return strncasecmp(name, "X-Message-", 10) == 0;
    }
    return false;
}

/* What the server's rate limit counts per (docs/protocols.md: 10 requests/s
 * per key): the key id, the api key or the address, hashed with the protocol
 * so that neither an identity nor anything secret is kept by a limiter. */
bool wsig__auth_rate_identity(const wsig_auth *auth, unsigned char out[32])
{
    const char *kind = NULL, *id = NULL;
    switch (auth->kind) {
    case WSIG_AUTH_JWT:
        kind = "jwt:", id = auth->u.jwt.key_id;
        break;
    case WSIG_AUTH_HMAC:
        kind = "hmac:", id = auth->u.hmac.api_key;
        break;
    case WSIG_AUTH_MESSAGE:
        kind = "message:", id = auth->u.msg.address;
        break;
    default:
        return false;
    }
    wsig_piece pieces[] = {{kind, strlen(kind)}, {id, strlen(id)}};
    return wsig__sha256_pieces(out, pieces, 2);
}
