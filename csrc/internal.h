/* Private to the core: shared helpers and the handle layouts. */
#ifndef WSIG_INTERNAL_H
#define WSIG_INTERNAL_H

#include "walletsign.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <secp256k1.h>
#include <stdatomic.h>
#include <stdbool.h>

#define WSIG_LOCAL __attribute__((visibility("hidden")))
#define WSIG_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* --- errors (error.c) --- */
/* Record a failure in err (if non-NULL) and return status. */
WSIG_LOCAL int wsig__fail(wsig_error *err, int status, const char *fmt, ...) WSIG_PRINTF(3, 4);
/* Record a failure and append OpenSSL's queued reasons (the queue is drained). */
WSIG_LOCAL int wsig__fail_ossl(wsig_error *err, int status, const char *fmt, ...) WSIG_PRINTF(3, 4);
/* Record a verification rejection: status WSIG_INVALID with a reason. */
WSIG_LOCAL int wsig__reject(wsig_error *err, int reason, const char *fmt, ...) WSIG_PRINTF(3, 4);
/* Record a store failure: WSIG_ERR_STORE, reason store_unavailable. */
WSIG_LOCAL int wsig__fail_store(wsig_error *err, const char *fmt, ...) WSIG_PRINTF(2, 3);
/* Reset err to "no error" at the start of a public call. */
WSIG_LOCAL void wsig__reset(wsig_error *err);

/* --- codecs (codec.c) --- */
WSIG_LOCAL size_t wsig__hex_encode(char *out, const unsigned char *in, size_t len);
/* Decode exactly out_len bytes from 2*out_len hex digits; false on bad input. */
/* The value of one hex digit (either case), or -1. */
WSIG_LOCAL int wsig__hex_value(char c);
WSIG_LOCAL bool wsig__hex_decode(unsigned char *out, size_t out_len, const char *hex, size_t hex_len);
WSIG_LOCAL size_t wsig__b64_len(size_t n, bool url);
WSIG_LOCAL size_t wsig__b64_encode(char *restrict out, const unsigned char *restrict in, size_t len, bool url);
/* Strict decode (standard padded, or url without padding). out must hold
 * 3*len/4 + 3 bytes. Returns false on any invalid character or length. */
WSIG_LOCAL bool wsig__b64_decode(unsigned char *out, size_t *out_len, const char *in, size_t len,
                                 bool url);
WSIG_LOCAL bool wsig__ct_equal(const void *a, const void *b, size_t len);
WSIG_LOCAL bool wsig__parse_u64(const char *s, size_t len, uint64_t *out);
WSIG_LOCAL int wsig__ascii_casecmp(const char *a, const char *b);
WSIG_LOCAL bool wsig__utf8_valid(const unsigned char *s, size_t len);
/* A non-empty RFC 9110 token (a method, a header name): no space, CTL,
 * separator or non-ASCII byte, so it cannot end a request line early. */
WSIG_LOCAL bool wsig__http_token(const char *s);
/* The longest method (a token) signed and sent, and its NUL. */
#define MAX_METHOD 32
/* False when a name or value of h[0..n) has a given length other than its
 * strlen (an embedded NUL): the caller's text would be read cut short. */
WSIG_LOCAL bool wsig__header_refs_whole(const wsig_header_ref *h, size_t n);
WSIG_LOCAL const char *wsig__find_header(const wsig_header_ref *h, size_t n, const char *name);
/* As wsig__find_header; sets *duplicate when the name occurs more than once
 * (a verifier must not pick one of two differing copies). */
WSIG_LOCAL const char *wsig__find_unique_header(const wsig_header_ref *h, size_t n,
                                                const char *name, bool *duplicate);
WSIG_LOCAL int64_t wsig__now_ms(void);
/* A time argument (now_ms, now_s): 0 means the clock, a negative one is
 * refused (it used to mean the clock silently). WSIG_OK or WSIG_ERR_ARG. */
WSIG_LOCAL int wsig__check_time(int64_t t, const char *what, wsig_error *err);
WSIG_LOCAL bool wsig__set_header(wsig_headers *out, const char *name, const char *value);
WSIG_LOCAL bool wsig__set_header_n(wsig_headers *out, const char *name, size_t name_len,
                                   const char *value, size_t value_len);

/* --- hashing (hash.c) --- */
WSIG_LOCAL const EVP_MD *wsig__sha256(void);
/* SHA-256 over up to n pieces, without concatenating them. */
typedef struct { const void *p; size_t n; } wsig_piece;
WSIG_LOCAL bool wsig__sha256_pieces(unsigned char out[32], const wsig_piece *pieces, size_t n);

/* --- secp256k1 (secp.c) --- */
WSIG_LOCAL const secp256k1_context *wsig__secp(void);
/* True (and cleared) if libsecp256k1 reported an illegal argument on this thread. */
WSIG_LOCAL bool wsig__secp_take_illegal(void);

/* --- keys (key.c) --- */
struct wsig_key {
    atomic_int refs;
    int kind;
    int bits;
    int is_private;
    EVP_PKEY *pkey;                 /* all kinds (secp256k1: for PEM output) */
    unsigned char seckey[32];       /* secp256k1 private scalar */
    secp256k1_pubkey pub;           /* secp256k1 */
    unsigned char address[20];      /* secp256k1 */
};
WSIG_LOCAL wsig_key *wsig__key_ref(const wsig_key *key);
WSIG_LOCAL void wsig__address_eip55(char out[WSIG_ADDRESS_SIZE], const unsigned char addr[20]);
WSIG_LOCAL void wsig__pubkey_address(unsigned char addr[20], const secp256k1_pubkey *pub);

/* --- auth (auth.c, jwt.c, hmac.c, message.c) --- */
struct wsig_jwt_auth {
    wsig_key *key;
    EVP_PKEY_CTX *sign_tmpl;        /* sign_init done once (fetches); dup'ed per token */
    char key_id[WSIG_JWT_KID_SIZE];
    int ttl;
    int raw;
};
struct wsig_hmac_auth {
    char *api_key;
    struct wsig_hmac_keyed *keyed;  /* SHA-256 states after the ipad/opad blocks */
    int encoding;
    char separator[16];
    char api_key_header[WSIG_HEADER_NAME_MAX];
    char signature_header[WSIG_HEADER_NAME_MAX];
    char timestamp_header[WSIG_HEADER_NAME_MAX];
    /* strlen of the above, taken once: a signature is short enough to notice */
    size_t api_key_len, separator_len, api_key_header_len, signature_header_len,
        timestamp_header_len;
};
struct wsig_message_auth {
    wsig_key *key;
    wsig_message_options opt;
    char address[WSIG_ADDRESS_SIZE];
    pthread_mutex_t lock;           /* guards pid, session, sequence */
    long pid;
    uint64_t session;
    uint64_t sequence;
};
struct wsig_auth {
    int kind;
    atomic_int refs;              /* the owner's, plus one per client using it */
    union {
        struct wsig_jwt_auth jwt;
        struct wsig_hmac_auth hmac;
        struct wsig_message_auth msg;
    } u;
};

/* One more reference to an auth or a message verifier (a client's);
 * wsig_auth_free and wsig_message_verifier_free drop one. */
WSIG_LOCAL wsig_auth *wsig__auth_ref(wsig_auth *auth);
WSIG_LOCAL wsig_message_verifier *wsig__message_verifier_ref(wsig_message_verifier *v);

/* Pools (pool.c) make their workers' clients like a model client
 * (client.c): like's base URL, auth, options and rate limiter (the same
 * bucket), with this abort_check and on_event. */
WSIG_LOCAL int wsig__client_clone(wsig_client **out, wsig_client *like,
                                  int (*abort_check)(void *), void *abort_ud,
                                  void (*on_event)(void *, const wsig_client_event *),
                                  void *event_ud, wsig_error *err);
/* True if the auth sets a header of this name (case-insensitive): a caller's
 * header of that name would go out beside, or instead of, the signed one. */
WSIG_LOCAL bool wsig__auth_sets_header(const wsig_auth *auth, const char *name);
/* The identity a server's rate limit counts requests by, hashed:
 * SHA-256("jwt:" key id | "hmac:" api key | "message:" EIP-55 address).
 * False if hashing failed. */
WSIG_LOCAL bool wsig__auth_rate_identity(const wsig_auth *auth, unsigned char out[32]);
WSIG_LOCAL int wsig__jwt_sign_headers(struct wsig_jwt_auth *a, wsig_headers *out, const char *uri,
                                      const void *body, size_t body_len, int64_t now_ms,
                                      wsig_error *err);
WSIG_LOCAL int wsig__hmac_sign_headers(struct wsig_hmac_auth *a, wsig_headers *out,
                                       const char *method, const char *path, const void *body,
                                       size_t body_len, int64_t now_ms, wsig_error *err);
WSIG_LOCAL int wsig__message_sign_headers(struct wsig_message_auth *a, wsig_headers *out,
                                          const void *body, size_t body_len, int64_t now_ms,
                                          wsig_error *err);
/* Per protocol: fill an auth's part (a zeroed struct), or release it
 * (safe on a partly filled one). The handles are made in auth.c. */
WSIG_LOCAL int wsig__jwt_auth_init(struct wsig_jwt_auth *a, const wsig_key *key,
                                   const char *key_id, const wsig_jwt_options *opt,
                                   wsig_error *err);
WSIG_LOCAL void wsig__jwt_auth_clear(struct wsig_jwt_auth *a);
WSIG_LOCAL void wsig__hmac_auth_clear(struct wsig_hmac_auth *a);
WSIG_LOCAL int wsig__hmac_auth_init(struct wsig_hmac_auth *a, const char *api_key,
                                    const char *secret, size_t secret_len,
                                    const wsig_hmac_options *opt, wsig_error *err);
WSIG_LOCAL int wsig__message_auth_init(struct wsig_message_auth *a, const wsig_key *key,
                                       const wsig_message_options *opt, wsig_error *err);
WSIG_LOCAL void wsig__message_auth_clear(struct wsig_message_auth *a);

/* Snowflake id: 41 bits ms since 2020-01-01, 10 bits worker, 12 bits counter. */
WSIG_LOCAL uint64_t wsig__snowflake(void);

/* Digest of a message prehash (message.c), shared by signer and verifier. */
WSIG_LOCAL bool wsig__message_digest(unsigned char out[32], int digest, const char *ts,
                                     const char *session, const char *sequence, const void *body,
                                     size_t body_len, bool with_separator);

/* --- JSON text (json.c) --- */
typedef struct cJSON cJSON;
/* Find the raw text span of a member of a top-level JSON object, the same
 * member cJSON_GetObjectItemCaseSensitive finds. The text must already have
 * passed wsig__json_parse_exact. Returns false if the member is absent. */
WSIG_LOCAL bool wsig__json_member_span(const char *json, size_t len, const char *name,
                                       size_t *start, size_t *span_len);
/* Parse len bytes of UTF-8 holding exactly one JSON value (plus whitespace),
 * in which no object names a member twice and every number is in RFC 8259
 * form (cJSON takes 01, 1. and -.5). NULL when it is anything else. */
WSIG_LOCAL cJSON *wsig__json_parse_exact(const char *text, size_t len);
/* A malloc'd copy of JSON text without whitespace outside strings. */
WSIG_LOCAL char *wsig__json_compact(const char *json, size_t len);
/* A number in RFC 8259 §6 form, the whole of s[0..n). */
WSIG_LOCAL bool wsig__json_number_valid(const char *s, size_t n);
/* The next number token at or after *pos in text that passed
 * wsig__json_parse_exact: numbers come in document order, which is the
 * order of cJSON's number nodes in a depth-first walk. Advances *pos;
 * false when no number is left. */
WSIG_LOCAL bool wsig__json_next_number(const char *json, size_t len, size_t *pos, size_t *start,
                                       size_t *span_len);

#endif
