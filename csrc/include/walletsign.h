/*
 * walletsign — sign, send and verify requests for wallet and payment APIs.
 *
 * One public header. Every exported name starts with wsig_. The three wire
 * protocols (jwt, hmac, message) are specified in docs/protocols.md.
 *
 * Conventions
 *  - Every fallible function returns an int status (enum wsig_status). The
 *    human-readable message, and for API failures the HTTP status, API code
 *    and raw body, are written to a caller-owned wsig_error (may be NULL).
 *    There is no global error state.
 *  - Argument order: handle, outputs, inputs; each length follows its pointer.
 *  - Strings returned through char ** are NUL-terminated, owned by the caller
 *    and released with wsig_free(). The one exception is a secret:
 *    wsig_key_private_pem's PEM is released with wsig_free_secret(p, len).
 *  - Verification is three-way: WSIG_OK (valid), WSIG_INVALID (rejected, with
 *    err->reason), or an error status (the library itself failed).
 *  - Time arguments named now_ms / now_s: pass 0 to use the system clock; a
 *    negative one is WSIG_ERR_ARG. The bindings and the CLI pass them through.
 *  - No secret (key bytes, HMAC secret, passphrase) ever appears in an error
 *    message; key material is wiped with OPENSSL_cleanse when freed.
 *  - Options structs: zero means default. A zeroed struct, or NULL for the
 *    pointer, gives the documented defaults. Two exceptions, where 0 is a
 *    value of its own: wsig_message_options.v_offset (v is 0 or 1; the
 *    default is 27) and wsig_client_options.max_retries (0 = no retries;
 *    the default is 3). Start those structs from WSIG_MESSAGE_OPTIONS_INIT
 *    and WSIG_CLIENT_OPTIONS_INIT (NULL gives the same defaults).
 *  - Fixed buffers: a WSIG_*_SIZE constant is a buffer's size in bytes, the
 *    NUL included (so are the older WSIG_HEADER_NAME_MAX and
 *    WSIG_HEADER_VALUE_MAX).
 *  - Each function's comment follows libsecp256k1's template: Returns:, then
 *    as they apply Args: (the handle worked on), Out:, In/Out:, In:, and
 *    ownership and thread safety where they matter. Entry points for known
 *    answers and tests only are in the last section.
 *
 * Thread safety
 *  - wsig_key, wsig_auth: immutable after creation except the message
 *    sequence, which is taken under a lock: one handle may be shared by any
 *    number of threads.
 *  - wsig_hmac_verifier, wsig_message_verifier: shareable (the replay cache has
 *    its own lock).
 *  - wsig_replay_store: shareable (one Redis connection under its own lock).
 *  - wsig_client: one thread at a time (it owns one libcurl handle). Use one
 *    client per thread, or serialise calls yourself. The clients of one key
 *    share one rate-limit bucket (wsig_rate_limit, shareable, own lock).
 */
#ifndef WALLETSIGN_H
#define WALLETSIGN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && defined(WSIG_EMBEDDED)
/* The core compiled into a binding's module (the rockspec defines
 * WSIG_EMBEDDED): nothing of it is exported, the module's own entry is. */
#define WSIG_API __attribute__((visibility("hidden")))
#elif defined(__GNUC__)
#define WSIG_API __attribute__((visibility("default")))
#endif
#if defined(__GNUC__)
#define WSIG_WARN_UNUSED __attribute__((warn_unused_result))
#define WSIG_NONNULL(...) __attribute__((nonnull(__VA_ARGS__)))
#else
#define WSIG_API
#define WSIG_WARN_UNUSED
#define WSIG_NONNULL(...)
#endif

#define WSIG_VERSION "0.1.0"

/* Sizes of the fixed buffers of the API, in bytes including the NUL. */
#define WSIG_ADDRESS_SIZE 43        /* "0x" + 40 hex digits (EIP-55) + NUL */
#define WSIG_DECIMAL_SIZE 24        /* a 64-bit integer in decimal (sign, 20 digits) + NUL */
#define WSIG_ERROR_CODE_SIZE 64     /* wsig_error.code */
#define WSIG_ERROR_MESSAGE_SIZE 512 /* wsig_error.message */
#define WSIG_ERROR_WARNING_SIZE 256 /* wsig_error.warning */
#define WSIG_JWT_ALG_SIZE 8         /* wsig_jwt_claims.alg: "ES256", "RS256" */
#define WSIG_JWT_KID_SIZE 257       /* a key id: at most 256 bytes */
#define WSIG_JWT_SUB_SIZE 65        /* wsig_jwt_claims.sub */
#define WSIG_JWT_NONCE_SIZE 129     /* wsig_jwt_claims.nonce */
#define WSIG_JWT_BODY_HASH_SIZE 65  /* SHA-256 in hex: 64 digits + NUL */
#define WSIG_JWT_URI_SIZE 1025      /* the uri claim: at most 1024 bytes */

/** Halogen's production base URL (docs/protocols.md): the one default of
 *  every binding and the CLI when no base URL is given. */
#define WSIG_HALOGEN_BASE_URL "https://external-api.wallet.halogen.my"

/* ------------------------------------------------------------------ */
/* Status, reasons and the error record                               */

enum wsig_status {
    WSIG_OK = 0,
    WSIG_INVALID = 1,         /* verification rejected; see err->reason */
    WSIG_ERR_ARG = 2,         /* bad argument (NULL, out of range, bad option) */
    WSIG_ERR_KEY = 3,         /* unreadable, wrong or weak key */
    WSIG_ERR_PASSWORD = 4,    /* missing or wrong passphrase */
    WSIG_ERR_CRYPTO = 5,      /* OpenSSL / libsecp256k1 failure */
    WSIG_ERR_NOMEM = 6,
    WSIG_ERR_IO = 7,          /* file read/write */
    WSIG_ERR_PROTOCOL = 8,    /* malformed or non-JSON response/envelope */
    WSIG_ERR_TRANSPORT = 9,   /* libcurl failure; err->curl_code */
    WSIG_ERR_TIMEOUT = 10,    /* libcurl timeout; err->curl_code */
    WSIG_ERR_HTTP = 11,       /* HTTP status not 2xx; err->http_status, code, body, location */
    WSIG_ERR_RPC = 12,        /* JSON-RPC error object; err->rpc_code, data_json */
    WSIG_ERR_ABORTED = 13,    /* a client call stopped by its abort_check; the message
                                 says whether the request may have reached the server */
    WSIG_ERR_STORE = 14       /* a replay or rate-limit store (Redis) could not be reached
                                 or answered an error: nothing was accepted (fail closed);
                                 err->reason is WSIG_REASON_STORE_UNAVAILABLE */
};

enum wsig_reason {
    WSIG_REASON_NONE = 0,
    WSIG_REASON_BAD_SIGNATURE,
    WSIG_REASON_UNTRUSTED_ADDRESS,
    WSIG_REASON_STALE_TIMESTAMP,
    WSIG_REASON_REPLAY,
    WSIG_REASON_MALFORMED_HEADER,
    WSIG_REASON_MISSING_HEADER,
    WSIG_REASON_EXPIRED,      /* jwt: exp passed or iat in the future */
    WSIG_REASON_MALFORMED,    /* jwt: not a well-formed token */
    WSIG_REASON_LIFETIME_TOO_LONG, /* jwt: exp - iat above the verifier's max_ttl */
    WSIG_REASON_REQUEST_MISMATCH,  /* jwt: a valid token made for another uri or body */
    WSIG_REASON_STORE_UNAVAILABLE  /* with WSIG_ERR_STORE: the store could not answer */
};

typedef struct wsig_error {
    int status;               /* enum wsig_status of the last failure */
    int reason;               /* enum wsig_reason when status == WSIG_INVALID or
                                 WSIG_ERR_STORE */
    long http_status;         /* WSIG_ERR_HTTP (and last HTTP status otherwise) */
    int curl_code;            /* WSIG_ERR_TRANSPORT / WSIG_ERR_TIMEOUT */
    long long rpc_code;       /* WSIG_ERR_RPC */
    double retry_after;       /* seconds, from a 429's Retry-After; -1 if none */
    char code[WSIG_ERROR_CODE_SIZE];       /* Halogen error code, e.g. "ErrExpiredAuthToken" */
    char message[WSIG_ERROR_MESSAGE_SIZE]; /* what went wrong, for humans */
    char warning[WSIG_ERROR_WARNING_SIZE]; /* set on success when something deserves a warning */
    char *body;               /* raw response body of an API error (owned) */
    size_t body_len;
    char *data_json;          /* JSON-RPC error "data" as JSON text (owned) */
    char *location;           /* WSIG_ERR_HTTP for a 3xx: its Location header (owned), or NULL */
} wsig_error;

#define WSIG_ERROR_INIT {0, 0, 0, 0, 0, -1.0, {0}, {0}, {0}, NULL, 0, NULL, NULL}

/** The cheapest valid set-up of an error record before a call, for hot
 *  paths: every function that takes a wsig_error resets it on entry, so only
 *  the three owned pointers need a value first (WSIG_ERROR_INIT zeroes all
 *  ~900 bytes, a tenth of a sub-microsecond HMAC). Not a test-only helper:
 *  the Python and Lua bindings use it in their sign calls. */
#define WSIG_ERROR_PREPARE(err)                                                      \
    ((void)((err)->body = NULL, (err)->data_json = NULL, (err)->location = NULL))

/** Release what an error owns (body, data_json, location) and reset it to
 *  empty (as WSIG_ERROR_INIT).
 *  Returns: nothing.
 *  In/Out:  err (NULL is a no-op; a zeroed or already-cleared record is fine). */
WSIG_API void wsig_error_clear(wsig_error *err);

/** Name of a status ("ok", "invalid", "key_error", ...).
 *  Returns: a static string, never NULL ("unknown" for a value outside
 *           enum wsig_status).
 *  In:      status (enum wsig_status). */
WSIG_API const char *wsig_status_name(int status);

/** Name of a reason ("bad_signature", "replay", ...).
 *  Returns: a static string, never NULL ("" for WSIG_REASON_NONE, "unknown"
 *           for a value outside enum wsig_reason).
 *  In:      reason (enum wsig_reason). */
WSIG_API const char *wsig_reason_name(int reason);

/* The fields of a failure. Every binding and the CLI expose a failure under
 * these names, with these meanings (docs/errors.md, "Fields of a failure"):
 * "kind" (wsig_status_name(status)) and "message" always, the others when
 * wsig_error_fields() says they apply. */
enum wsig_error_field {
    WSIG_FIELD_REASON = 1 << 0,      /* "reason": wsig_reason_name(reason) */
    WSIG_FIELD_HTTP_STATUS = 1 << 1, /* "http_status": the answer's HTTP status */
    WSIG_FIELD_CODE = 1 << 2,        /* "code": the API's error code, as text */
    WSIG_FIELD_RPC_CODE = 1 << 3,    /* "rpc_code": a JSON-RPC error's integer code */
    WSIG_FIELD_RETRY_AFTER = 1 << 4, /* "retry_after": seconds, from Retry-After */
    WSIG_FIELD_CURL_CODE = 1 << 5,   /* "curl_code": libcurl's CURLcode */
    WSIG_FIELD_LOCATION = 1 << 6,    /* "location": a 3xx's Location header */
    WSIG_FIELD_BODY = 1 << 7,        /* "body": the raw answer (bytes) */
    WSIG_FIELD_DATA = 1 << 8         /* "data": a JSON-RPC error's data (JSON text) */
};

/** Which fields of a failed call's record apply, so that every surface
 *  shows the same ones.
 *  Returns: a bitwise OR of enum wsig_error_field; 0 for NULL or WSIG_OK.
 *  In:      err, as a failed call left it.
 *  Thread safety: reads err only. */
WSIG_API unsigned wsig_error_fields(const wsig_error *err);

/** Free a string or buffer returned by walletsign through char **.
 *  Returns: nothing.
 *  In:      p (NULL is a no-op). */
WSIG_API void wsig_free(void *p);

/** Wipe (OPENSSL_cleanse) then free a secret returned by walletsign: the PEM
 *  of wsig_key_private_pem.
 *  Returns: nothing.
 *  In:      p (NULL is a no-op), len (the length returned with it). */
WSIG_API void wsig_free_secret(void *p, size_t len);

/** The library's version.
 *  Returns: WSIG_VERSION of the library that is linked (a static string). */
WSIG_API const char *wsig_version(void);

/* ------------------------------------------------------------------ */
/* Option names: one table for every binding and the CLI              */

enum wsig_option {
    WSIG_OPTION_JWT_FORMAT = 1,   /* "der", "raw"                    -> enum wsig_jwt_format */
    WSIG_OPTION_HMAC_ENCODING,    /* "base64", "hex"                 -> enum wsig_hmac_encoding */
    WSIG_OPTION_DIGEST,           /* "sha256", "keccak256", "eip191" -> enum wsig_digest */
    WSIG_OPTION_MESSAGE_ENCODING, /* "rsv", "der_hex", "der_base64"  -> enum wsig_message_encoding */
    WSIG_OPTION_EMPTY_BODY,       /* "omit", "separator"             -> enum wsig_empty_body */
    WSIG_OPTION_KEY_KIND          /* "P-256" (also "P256"), "RSA", "secp256k1" -> enum wsig_key_kind */
};

/** The value an option's name stands for. Names match ASCII
 *  case-insensitively ("HEX" is hex); the key kind P-256 may also be spelt
 *  "P256". tests/vectors/options.json lists every name and value.
 *  Returns: WSIG_OK; WSIG_ERR_ARG (an unknown option, or a name it does not
 *           have: err->message lists the names it has).
 *  Out:     *value (untouched on error).
 *  In:      option (enum wsig_option), name (NUL-terminated).
 *  Thread safety: none needed (constant tables). */
WSIG_API WSIG_WARN_UNUSED int wsig_option_value(int option, const char *name, int *value,
                                                wsig_error *err) WSIG_NONNULL(2, 3);

/** The canonical name of an option's value ("P-256", "hex", ...).
 *  Returns: a static string; NULL for an unknown option or value.
 *  In:      option (enum wsig_option), value.
 *  Thread safety: none needed (constant tables). */
WSIG_API const char *wsig_option_name(int option, int value);

/* ------------------------------------------------------------------ */
/* Keys                                                               */

typedef struct wsig_key wsig_key;

enum wsig_key_kind {
    WSIG_KEY_P256 = 1,        /* ES256 */
    WSIG_KEY_RSA = 2,         /* RS256 */
    WSIG_KEY_SECP256K1 = 3    /* message protocol ("ES256K") */
};

/** Load a key from PEM: SEC1 "EC PRIVATE KEY" (P-256 or secp256k1), PKCS#1
 *  "RSA PRIVATE KEY", PKCS#8 "PRIVATE KEY", "ENCRYPTED PRIVATE KEY" (needs
 *  password), or a "PUBLIC KEY" (for verification only). The PEM holds one
 *  key block; parameter blocks ("EC PARAMETERS", as `openssl ecparam -genkey`
 *  writes before the key) are skipped.
 *  Returns: WSIG_OK; WSIG_ERR_KEY (malformed, unsupported type or curve, RSA
 *           below 2048 bits; no key block, e.g. a CSR or parameters alone;
 *           two keys or a key beside a certificate; an indented PEM; the
 *           message names the blocks found); WSIG_ERR_PASSWORD; WSIG_ERR_NOMEM.
 *  Out:     *out, a new key owned by the caller (wsig_key_free); NULL on failure.
 *  In:      pem/pem_len, password (NUL-terminated or NULL; not retained).
 *  Thread safety: a key is immutable: any number of threads may use one. */
WSIG_API WSIG_WARN_UNUSED int wsig_key_load_pem(wsig_key **out, const char *pem, size_t pem_len,
                                                const char *password, wsig_error *err)
    WSIG_NONNULL(1, 2);

/** Load a key from DER (PKCS#8, encrypted PKCS#8, SEC1, PKCS#1, or SPKI public).
 *  Returns: as wsig_key_load_pem.
 *  Out:     *out, a new key owned by the caller (wsig_key_free); NULL on failure.
 *  In:      der/der_len, password (NUL-terminated or NULL; not retained). */
WSIG_API WSIG_WARN_UNUSED int wsig_key_load_der(wsig_key **out, const unsigned char *der,
                                                size_t der_len, const char *password,
                                                wsig_error *err) WSIG_NONNULL(1, 2);

/** Load a key from bytes of unknown form, detected by the core:
 *  PEM when the bytes hold a PEM armour line ("-----BEGIN ..." starting a
 *  line; wsig_key_load_pem's rules apply), 64 hex digits (a secp256k1
 *  private key as the message protocol's users keep it: optional "0x",
 *  optional trailing "\n" or "\r\n"), DER when the bytes are binary (hold
 *  a control byte, as every DER key does). The forms cannot be confused.
 *  Returns: as wsig_key_load_pem; WSIG_ERR_KEY "key data is not PEM, DER or
 *           64 hex digits: it is ..." naming what was seen (so many hex
 *           digits, text without a PEM -----BEGIN line), never echoing
 *           the bytes.
 *  Out:     *out, a new key owned by the caller (wsig_key_free); NULL on failure.
 *  In:      data/len (not retained; the caller wipes its copy), password
 *           (NUL-terminated or NULL; ignored for hex). Thread-safe. */
WSIG_API WSIG_WARN_UNUSED int wsig_key_load(wsig_key **out, const void *data, size_t len,
                                            const char *password, wsig_error *err)
    WSIG_NONNULL(1, 2);

/** Load a key from a file: its bytes go through wsig_key_load (PEM, DER or
 *  64 hex digits) and are wiped from memory after parsing.
 *  Returns: as wsig_key_load; WSIG_ERR_IO (cannot open or read);
 *           WSIG_ERR_KEY also for a file of 1 MiB or more.
 *  Out:     *out, a new key owned by the caller (wsig_key_free); NULL on failure.
 *  In:      path, password (NUL-terminated or NULL; not retained). */
WSIG_API WSIG_WARN_UNUSED int wsig_key_load_file(wsig_key **out, const char *path,
                                                 const char *password, wsig_error *err)
    WSIG_NONNULL(1, 2);

/** Load a key from a string that is either key text or a file path (what a
 *  binding's string argument may hold): key bytes when wsig_key_load
 *  recognises PEM or DER in it, otherwise the path of a key file. Hex (32
 *  or more digits) is refused here, not guessed: a file so named must not
 *  become a private key, nor a mistyped key be echoed as a path (use
 *  wsig_key_from_hex for hex, "./NAME" for such a file). Text holding a
 *  line break is no path: it gets wsig_key_load's "not PEM, DER or 64 hex
 *  digits" error; bytes holding a control byte (NUL too) are DER.
 *  Returns: as wsig_key_load_file; WSIG_ERR_ARG for hex or an empty source.
 *  Out:     *out, a new key owned by the caller (wsig_key_free).
 *  In:      source/len (need not be NUL-terminated; not retained), password
 *           (NUL-terminated or NULL). Thread-safe. */
WSIG_API WSIG_WARN_UNUSED int wsig_key_load_source(wsig_key **out, const char *source,
                                                   size_t len, const char *password,
                                                   wsig_error *err) WSIG_NONNULL(1, 2);

/** Make a secp256k1 private key from 64 hex digits (optional 0x prefix,
 *  optional trailing "\n" or "\r\n": the hex form of wsig_key_load).
 *  Returns: WSIG_OK; WSIG_ERR_KEY (bad hex, zero or out-of-range scalar).
 *  Out:     *out, a new key owned by the caller (wsig_key_free); NULL on failure.
 *  In:      hex (NUL-terminated; the scalar's copies are wiped). */
WSIG_API WSIG_WARN_UNUSED int wsig_key_from_hex(wsig_key **out, const char *hex, wsig_error *err)
    WSIG_NONNULL(1, 2);

/** Generate a private key.
 *  Returns: WSIG_OK; WSIG_ERR_ARG (unknown kind, rsa_bits out of range);
 *           WSIG_ERR_CRYPTO.
 *  Out:     *out, a new key owned by the caller (wsig_key_free); NULL on failure.
 *  In:      kind (enum wsig_key_kind); rsa_bits, for WSIG_KEY_RSA only
 *           (0 = 4096; 2048..16384). */
WSIG_API WSIG_WARN_UNUSED int wsig_key_generate(wsig_key **out, int kind, int rsa_bits,
                                                wsig_error *err) WSIG_NONNULL(1);

/** Release the caller's reference to a key; its material is wiped when the
 *  last holder (an auth keeps its own reference) lets go.
 *  Returns: nothing.
 *  Args:    key (NULL is a no-op). */
WSIG_API void wsig_key_free(wsig_key *key);

/** Returns: the key's enum wsig_key_kind.
 *  Args:    key. */
WSIG_API int wsig_key_kind_of(const wsig_key *key) WSIG_NONNULL(1);

/** Returns: the key size in bits (256 for the curves).
 *  Args:    key. */
WSIG_API int wsig_key_bits(const wsig_key *key) WSIG_NONNULL(1);

/** Returns: 1 if the key holds private material, 0 for a public key.
 *  Args:    key. */
WSIG_API int wsig_key_is_private(const wsig_key *key) WSIG_NONNULL(1);

/** Returns: the key's JWT algorithm name, a static string: "ES256" (P-256),
 *           "RS256" (RSA) or "ES256K" (secp256k1).
 *  Args:    key. */
WSIG_API const char *wsig_key_algorithm(const wsig_key *key) WSIG_NONNULL(1);

/** Private key as PKCS#8 PEM ("PRIVATE KEY"), or "ENCRYPTED PRIVATE KEY"
 *  (PBES2: AES-256-CBC, PBKDF2) when password is non-NULL and non-empty.
 *  SECRET: unlike every other char ** result, release *out with
 *  wsig_free_secret(*out, *out_len), which wipes it before freeing
 *  (wsig_free would leave the key readable in freed memory).
 *  Returns: WSIG_OK; WSIG_ERR_KEY (a public key); WSIG_ERR_CRYPTO; WSIG_ERR_NOMEM.
 *  Args:    key.
 *  Out:     *out (NUL-terminated; NULL on failure), *out_len (without the NUL).
 *  In:      password (NUL-terminated or NULL; not retained). */
WSIG_API WSIG_WARN_UNUSED int wsig_key_private_pem(const wsig_key *key, char **out, size_t *out_len,
                                                   const char *password, wsig_error *err)
    WSIG_NONNULL(1, 2, 3);

/** Public key as SubjectPublicKeyInfo PEM ("PUBLIC KEY").
 *  Returns: WSIG_OK; WSIG_ERR_CRYPTO; WSIG_ERR_NOMEM.
 *  Args:    key (public or private).
 *  Out:     *out (NUL-terminated, wsig_free; NULL on failure), *out_len
 *           (without the NUL). */
WSIG_API WSIG_WARN_UNUSED int wsig_key_public_pem(const wsig_key *key, char **out, size_t *out_len,
                                                  wsig_error *err) WSIG_NONNULL(1, 2, 3);

/** Write the private key PEM (as wsig_key_private_pem) to path with mode
 *  0600, created or replaced atomically through a temporary file in the same
 *  directory. The PEM's copy in memory is wiped.
 *  Returns: WSIG_OK; WSIG_ERR_KEY (a public key); WSIG_ERR_IO; WSIG_ERR_CRYPTO;
 *           WSIG_ERR_NOMEM.
 *  Args:    key.
 *  In:      path; password (NULL or "" for an unencrypted PEM; not retained). */
WSIG_API WSIG_WARN_UNUSED int wsig_key_save(const wsig_key *key, const char *path,
                                            const char *password, wsig_error *err)
    WSIG_NONNULL(1, 2);

/** PKCS#10 CSR (PEM, SHA-256) for a P-256 or RSA private key.
 *  Returns: WSIG_OK; WSIG_ERR_KEY (a public or secp256k1 key); WSIG_ERR_ARG
 *           (a malformed or empty subject); WSIG_ERR_CRYPTO; WSIG_ERR_NOMEM.
 *  Args:    key.
 *  Out:     *out (NUL-terminated, wsig_free; NULL on failure), *out_len
 *           (without the NUL).
 *  In:      subject, in openssl's form
 *           "/C=MY/ST=State/L=City/O=Organization/OU=Unit/CN=example.com"
 *           ('\' escapes '/', '=' and '\'). */
WSIG_API WSIG_WARN_UNUSED int wsig_key_csr(const wsig_key *key, char **out, size_t *out_len,
                                           const char *subject, wsig_error *err)
    WSIG_NONNULL(1, 2, 3, 4);

/** EIP-55 checksummed Ethereum address ("0x" + 40 hex) of a secp256k1 key.
 *  Returns: WSIG_OK; WSIG_ERR_KEY (not a secp256k1 key; out untouched).
 *  Args:    key (public or private).
 *  Out:     out (NUL-terminated). */
WSIG_API WSIG_WARN_UNUSED int wsig_key_address(const wsig_key *key, char out[WSIG_ADDRESS_SIZE],
                                               wsig_error *err) WSIG_NONNULL(1, 2);

/** Keccak-256 (the original Keccak padding used by Ethereum, not SHA3-256).
 *  Returns: nothing (it cannot fail).
 *  Out:     out, the 32-byte digest.
 *  In:      data/len (data may be NULL when len is 0). */
WSIG_API void wsig_keccak256(unsigned char out[32], const void *data, size_t len);

/* ------------------------------------------------------------------ */
/* Signing: one auth handle per credential, any of the three protocols */

#define WSIG_MAX_HEADERS 6
#define WSIG_HEADER_NAME_MAX 64
#define WSIG_HEADER_VALUE_MAX 2048

/** Headers produced by a signer, in the order they should be sent. */
typedef struct wsig_headers {
    size_t count;
    struct {
        char name[WSIG_HEADER_NAME_MAX];
        char value[WSIG_HEADER_VALUE_MAX];
        size_t name_len, value_len; /* strlen(name), strlen(value) */
    } h[WSIG_MAX_HEADERS];
} wsig_headers;

/** A header given to a verifier or a client (names are matched
 *  case-insensitively). name and value are NUL-terminated; name_len and
 *  value_len are the lengths the caller holds (a binding's string length),
 *  0 meaning "use strlen", so {name, value} initialisers keep working.
 *  A name or value whose given length differs from its strlen (an embedded
 *  NUL) is refused, never cut short: verifiers answer WSIG_INVALID with
 *  reason malformed_header, the client WSIG_ERR_ARG before anything is sent. */
typedef struct wsig_header_ref {
    const char *name;
    const char *value;
    size_t name_len, value_len; /* 0 = strlen */
} wsig_header_ref;

typedef struct wsig_auth wsig_auth;

enum wsig_auth_kind { WSIG_AUTH_JWT = 1, WSIG_AUTH_HMAC = 2, WSIG_AUTH_MESSAGE = 3 };

enum wsig_jwt_format { WSIG_JWT_DER = 0, WSIG_JWT_RAW = 1 };

typedef struct wsig_jwt_options {
    int ttl_seconds;          /* 0 = 10 */
    int signature_format;     /* enum wsig_jwt_format; ES256 only */
} wsig_jwt_options;

/** Halogen JWT auth.
 *  Returns: WSIG_OK (RSA below 4096 bits succeeds with err->warning set:
 *           Halogen accepts RSA-4096 only); WSIG_ERR_KEY (not a P-256 or RSA
 *           private key); WSIG_ERR_ARG (bad key_id or options); WSIG_ERR_NOMEM.
 *  Out:     *out, a new auth owned by the caller (wsig_auth_free); NULL on failure.
 *  In:      key, borrowed by reference count: it may be freed after this call;
 *           key_id: printable ASCII without '"' or '\', 1 to
 *           WSIG_JWT_KID_SIZE - 1 bytes; opt (NULL for the defaults). */
WSIG_API WSIG_WARN_UNUSED int wsig_auth_jwt_new(wsig_auth **out, const wsig_key *key,
                                                const char *key_id, const wsig_jwt_options *opt,
                                                wsig_error *err) WSIG_NONNULL(1, 2, 3);

enum wsig_hmac_encoding { WSIG_HMAC_BASE64 = 0, WSIG_HMAC_HEX = 1 };

typedef struct wsig_hmac_options {
    int encoding;                 /* enum wsig_hmac_encoding */
    const char *separator;        /* NULL = "|"; "" allowed */
    const char *api_key_header;   /* NULL = "x-api-key" */
    const char *signature_header; /* NULL = "x-signature" */
    const char *timestamp_header; /* NULL = "x-timestamp" */
} wsig_hmac_options;

/** HMAC-SHA256 auth.
 *  Returns: WSIG_OK; WSIG_ERR_ARG (an empty secret, secret_len 0: an empty
 *           HMAC key lets anyone sign; api_key empty, multi-line or not shorter
 *           than WSIG_HEADER_VALUE_MAX; bad options); WSIG_ERR_NOMEM.
 *  Out:     *out, a new auth owned by the caller (wsig_auth_free); NULL on failure.
 *  In:      api_key (copied); secret/secret_len (copied, wiped on free);
 *           opt (NULL for the defaults; its strings are copied). */
WSIG_API WSIG_WARN_UNUSED int wsig_auth_hmac_new(wsig_auth **out, const char *api_key,
                                                 const char *secret, size_t secret_len,
                                                 const wsig_hmac_options *opt, wsig_error *err)
    WSIG_NONNULL(1, 2, 3);

enum wsig_digest { WSIG_DIGEST_SHA256 = 0, WSIG_DIGEST_KECCAK256 = 1, WSIG_DIGEST_EIP191 = 2 };
enum wsig_message_encoding { WSIG_MESSAGE_RSV = 0, WSIG_MESSAGE_DER_HEX = 1, WSIG_MESSAGE_DER_BASE64 = 2 };
enum wsig_empty_body { WSIG_EMPTY_OMIT = 0, WSIG_EMPTY_SEPARATOR = 1 };

typedef struct wsig_message_options {
    int digest;               /* enum wsig_digest */
    int encoding;             /* enum wsig_message_encoding */
    int v_offset;             /* RSV only: 27 (default) or 0 */
    int no_prefix;            /* 1: no "0x" before hex encodings */
    int empty_body;           /* enum wsig_empty_body */
} wsig_message_options;

#define WSIG_MESSAGE_OPTIONS_INIT {WSIG_DIGEST_SHA256, WSIG_MESSAGE_RSV, 27, 0, WSIG_EMPTY_OMIT}

/** Ethereum-address signed messages (secp256k1). The session (a Snowflake id)
 *  is made here, and made anew in a child process after fork().
 *  Returns: WSIG_OK; WSIG_ERR_KEY (not a secp256k1 private key); WSIG_ERR_ARG
 *           (bad options); WSIG_ERR_CRYPTO; WSIG_ERR_NOMEM.
 *  Out:     *out, a new auth owned by the caller (wsig_auth_free); NULL on failure.
 *  In:      key, borrowed by reference count: it may be freed after this call;
 *           opt (NULL for the defaults, WSIG_MESSAGE_OPTIONS_INIT: a zeroed
 *           struct means v_offset 0). */
WSIG_API WSIG_WARN_UNUSED int wsig_auth_message_new(wsig_auth **out, const wsig_key *key,
                                                    const wsig_message_options *opt,
                                                    wsig_error *err) WSIG_NONNULL(1, 2);

/** Release the caller's reference to an auth; its secrets are wiped and it
 *  is freed when the last holder (a client keeps its own reference) lets go.
 *  Returns: nothing.
 *  Args:    auth (NULL is a no-op). */
WSIG_API void wsig_auth_free(wsig_auth *auth);

/** Returns: the auth's enum wsig_auth_kind.
 *  Args:    auth. */
WSIG_API int wsig_auth_kind_of(const wsig_auth *auth) WSIG_NONNULL(1);

/** Sign one request and produce its headers.
 *  Returns: WSIG_OK; WSIG_ERR_ARG (a method that is not a token, body NULL
 *           with a body_len, a jwt path that is not printable ASCII, a header
 *           that would not fit); WSIG_ERR_CRYPTO; WSIG_ERR_NOMEM.
 *  Args:    auth.
 *  Out:     out, the headers to send (out->count is 0 on failure).
 *  In:      method: an RFC 9110 token (anything else, e.g. a space or CR LF,
 *           is WSIG_ERR_ARG), any case (upper-cased for hmac); path: path and
 *           query exactly as sent (for jwt this is the claim "uri");
 *           body/body_len: the exact bytes sent (body may be NULL when
 *           body_len is 0); now_ms: 0 = system clock.
 *  Thread safety: one auth may sign from many threads at once. */
WSIG_API WSIG_WARN_UNUSED int wsig_auth_sign(wsig_auth *auth, wsig_headers *out,
                                             const char *method, const char *path,
                                             const void *body, size_t body_len, int64_t now_ms,
                                             wsig_error *err) WSIG_NONNULL(1, 2, 3, 4);

/** jwt only: the bare token (no "Bearer ") for uri and SHA-256(body).
 *  Returns: WSIG_OK; WSIG_ERR_ARG (not a jwt auth; uri not printable ASCII
 *           without quotes, or longer than WSIG_JWT_URI_SIZE - 1);
 *           WSIG_ERR_CRYPTO; WSIG_ERR_NOMEM.
 *  Args:    auth.
 *  Out:     *token (NUL-terminated, wsig_free; NULL on failure).
 *  In:      uri; body/body_len; now_s (0 = system clock).
 *  Thread safety: as wsig_auth_sign. */
WSIG_API WSIG_WARN_UNUSED int wsig_jwt_token(wsig_auth *auth, char **token, const char *uri,
                                             const void *body, size_t body_len, int64_t now_s,
                                             wsig_error *err) WSIG_NONNULL(1, 2, 3);

/** message only: the current session id (decimal, as sent).
 *  Returns: WSIG_OK; WSIG_ERR_ARG (not a message auth).
 *  Args:    auth.
 *  Out:     out (NUL-terminated).
 *  Thread safety: taken under the auth's lock; any thread. */
WSIG_API WSIG_WARN_UNUSED int wsig_auth_message_session(wsig_auth *auth,
                                                        char out[WSIG_DECIMAL_SIZE],
                                                        wsig_error *err) WSIG_NONNULL(1, 2);

/** message only: the signer's EIP-55 address.
 *  Returns: WSIG_OK; WSIG_ERR_ARG (not a message auth).
 *  Args:    auth.
 *  Out:     out (NUL-terminated). */
WSIG_API WSIG_WARN_UNUSED int wsig_auth_message_address(const wsig_auth *auth,
                                                        char out[WSIG_ADDRESS_SIZE],
                                                        wsig_error *err) WSIG_NONNULL(1, 2);

/* ------------------------------------------------------------------ */
/* Verification                                                       */

/* The claims of a verified token. A string claim that does not fit its
 * field makes the token malformed. */
typedef struct wsig_jwt_claims {
    char alg[WSIG_JWT_ALG_SIZE];
    char kid[WSIG_JWT_KID_SIZE];
    char sub[WSIG_JWT_SUB_SIZE];
    int64_t iat;
    int64_t exp;
    char nonce[WSIG_JWT_NONCE_SIZE];
    char body_hash[WSIG_JWT_BODY_HASH_SIZE];
    char uri[WSIG_JWT_URI_SIZE];
} wsig_jwt_claims;

typedef struct wsig_jwt_verify_options {
    int leeway_s;             /* clock skew allowed on exp and iat; 0..86400 */
    int max_ttl_s;            /* longest lifetime (exp - iat) accepted; 0 = 300, at most 86400 */
} wsig_jwt_verify_options;

#define WSIG_JWT_MAX_TTL_DEFAULT 300

/** Verify a Halogen JWT with a public (or private) P-256 or RSA key.
 *  Returns: WSIG_OK (claims filled); WSIG_INVALID with err->reason:
 *           malformed (not three base64url parts of UTF-8 JSON objects with
 *           all seven claims, a member named twice, a "crit" header),
 *           bad_signature (the signature or alg do not match),
 *           request_mismatch (a valid token whose uri or bodyHash is not
 *           this request's: misrouted rather than forged),
 *           lifetime_too_long (exp - iat above max_ttl_s), expired (now at or
 *           after exp, or before iat, beyond the leeway); WSIG_ERR_KEY (not a
 *           P-256 or RSA key); WSIG_ERR_ARG (options out of range).
 *  Args:    key (public or private).
 *  Out:     claims. iat and exp may be fractional (NumericDate): exp is
 *           rounded down and iat up for the time checks, and the lifetime
 *           (exp - iat) the other way for max_ttl: the stricter way for each.
 *  In:      token/token_len; now_s (0 = clock); opt (NULL = no leeway and a
 *           300 s lifetime cap); expected_uri (non-NULL: the uri claim must
 *           equal it); body/body_len (body non-NULL: bodyHash must equal
 *           SHA-256 of these bytes). ES256 signatures are accepted
 *           DER-encoded or raw r||s; the header's alg must match the key.
 *  Thread safety: any number of threads may verify with one key at once. */
WSIG_API WSIG_WARN_UNUSED int wsig_jwt_verify(const wsig_key *key, wsig_jwt_claims *claims,
                                              const char *token, size_t token_len, int64_t now_s,
                                              const wsig_jwt_verify_options *opt,
                                              const char *expected_uri, const void *body,
                                              size_t body_len, wsig_error *err)
    WSIG_NONNULL(1, 2, 3);

typedef struct wsig_hmac_verifier wsig_hmac_verifier;

/* Time windows and leeways are bounded to one day, so that time arithmetic
 * can never overflow. */
#define WSIG_MAX_WINDOW_MS 86400000LL

/* Replay caches hold at most 2^30 entries. */
#define WSIG_MAX_CACHE_SIZE (1u << 30)

/** Server-side HMAC verifier, with no API keys yet (wsig_hmac_verifier_add).
 *  Returns: WSIG_OK; WSIG_ERR_ARG (window_ms or options out of range);
 *           WSIG_ERR_NOMEM.
 *  Out:     *out, owned by the caller (wsig_hmac_verifier_free); NULL on failure.
 *  In:      window_ms: 0 = 30000, at most WSIG_MAX_WINDOW_MS; opt as for
 *           signing (encoding, separator, header names; copied), NULL for the
 *           defaults. */
WSIG_API WSIG_WARN_UNUSED int wsig_hmac_verifier_new(wsig_hmac_verifier **out, int64_t window_ms,
                                                     const wsig_hmac_options *opt, wsig_error *err)
    WSIG_NONNULL(1);

/** Register (or replace) an API key's secret.
 *  Returns: WSIG_OK; WSIG_ERR_ARG (an empty secret, secret_len 0, which would
 *           let anyone forge requests for api_key; a bad api_key); the
 *           verifier is then unchanged; WSIG_ERR_NOMEM.
 *  Args:    v.
 *  In:      api_key (copied); secret/secret_len (copied, wiped on free).
 *  Thread safety: not safe against concurrent verify: add every secret
 *  before sharing the verifier. */
WSIG_API WSIG_WARN_UNUSED int wsig_hmac_verifier_add(wsig_hmac_verifier *v, const char *api_key,
                                                     const char *secret, size_t secret_len,
                                                     wsig_error *err) WSIG_NONNULL(1, 2, 3);

/** Opt in to refusing repeats: a request whose (api key, timestamp,
 *  signature) was already accepted within the window is refused as replay.
 *  Trade-off: a client that legitimately sends the same request twice in one
 *  millisecond is refused; the cache lives in this process only (several
 *  workers or hosts each keep their own, see docs/security.md); it holds
 *  capacity entries (0 = 100000) and, when full of live ones, refuses as
 *  stale_timestamp anything not newer than the entry it evicts. Calling it
 *  again starts an empty cache.
 *  Returns: WSIG_OK; WSIG_ERR_ARG (capacity above WSIG_MAX_CACHE_SIZE);
 *           WSIG_ERR_NOMEM.
 *  Args:    v.
 *  In:      capacity (0 = 100000).
 *  Thread safety: call before sharing the verifier (as wsig_hmac_verifier_add);
 *  the cache has its own lock for verification. */
WSIG_API WSIG_WARN_UNUSED int wsig_hmac_verifier_replay_cache(wsig_hmac_verifier *v,
                                                              size_t capacity, wsig_error *err)
    WSIG_NONNULL(1);

/** Free a verifier, its replay cache, and wipe its secrets.
 *  Returns: nothing.
 *  Args:    v (NULL is a no-op). */
WSIG_API void wsig_hmac_verifier_free(wsig_hmac_verifier *v);

/** Verify an HMAC-signed request (constant-time comparison).
 *  Returns: WSIG_OK; WSIG_INVALID with err->reason: an unknown API key has
 *           the same reason as a wrong signature (bad_signature), so the
 *           answer to a caller does not tell which keys exist (err->message
 *           keeps the detail for logs); one of the three headers given twice
 *           is malformed_header; with the opt-in replay cache, a repeat is
 *           replay; or an error status.
 *  Args:    v.
 *  Out:     api_key_out (if non-NULL, WSIG_HEADER_VALUE_MAX bytes): on
 *           WSIG_OK, the caller's API key.
 *  In:      method, path (as received), headers/n_headers, body/body_len,
 *           now_ms (0 = system clock).
 *  Thread safety: any number of threads may verify with one verifier. */
WSIG_API WSIG_WARN_UNUSED int wsig_hmac_verify(const wsig_hmac_verifier *v, char *api_key_out,
                                               const char *method, const char *path,
                                               const wsig_header_ref *headers, size_t n_headers,
                                               const void *body, size_t body_len, int64_t now_ms,
                                               wsig_error *err) WSIG_NONNULL(1, 3, 4);

/* ------------------------------------------------------------------ */
/* Replay stores shared by processes and machines (Redis)             */
/* The message verifier's replay check against a store outside the    */
/* process (docs/c-api.md, "Replay stores"). A store that cannot      */
/* answer fails closed: WSIG_ERR_STORE, nothing accepted.             */

/* Options of every Redis-backed object (zero = default). */
typedef struct wsig_redis_options {
    double timeout;           /* connect, and each command, in seconds; 0 = 0.5; 0.001..60 */
    const char *prefix;       /* prepended to every key; NULL = "walletsign:" (copied);
                                 at most WSIG_REDIS_PREFIX_MAX bytes */
} wsig_redis_options;

#define WSIG_REDIS_PREFIX_MAX 256

typedef struct wsig_replay_store wsig_replay_store;

/** A replay store in Redis. url is redis://[[username]:password@]host[:port][/db]
 *  (port 6379 and db 0 by default; username and password percent-decoded; an
 *  IPv6 host in brackets). After each connect: AUTH [username] password when
 *  a password is given, SELECT db when db is not 0. No TLS (hiredis 0.14 has
 *  none): rediss:// is refused. Nothing is connected here: the first use
 *  connects, a failed command drops the connection and the next use
 *  reconnects (so Redis coming back works without recreating anything).
 *  Returns: WSIG_OK; WSIG_ERR_ARG (a URL not of that form, or options out of
 *           range; the message never holds the password); WSIG_ERR_NOMEM.
 *  Out:     *out, owned by the caller (wsig_replay_store_free); NULL on failure.
 *  In:      url (copied; the password is wiped on free), opt (NULL = defaults).
 *  Thread safety: shareable by any number of threads and verifiers; its one
 *  connection is used under a lock. A child process after fork() opens its
 *  own connection on first use. */
WSIG_API WSIG_WARN_UNUSED int wsig_replay_store_redis_new(wsig_replay_store **out, const char *url,
                                                          const wsig_redis_options *opt,
                                                          wsig_error *err) WSIG_NONNULL(1, 2);

/** Reserve key for ttl_ms, unless it is already reserved: in Redis one
 *  `SET prefix+key 1 NX PX ttl_ms` (a single key, so Redis Cluster can
 *  hold it on any shard).
 *  Returns: WSIG_OK (new: now reserved); WSIG_INVALID with reason
 *           WSIG_REASON_REPLAY (already reserved); WSIG_ERR_STORE (the store
 *           could not answer: treat as not accepted); WSIG_ERR_ARG (empty
 *           key, ttl_ms < 1).
 *  Args:    s.
 *  In:      key (NUL-terminated, at most WSIG_REPLAY_KEY_SIZE - 1 bytes), ttl_ms.
 *  Thread safety: as wsig_replay_store_redis_new. */
WSIG_API WSIG_WARN_UNUSED int wsig_replay_store_reserve(wsig_replay_store *s, const char *key,
                                                        int64_t ttl_ms, wsig_error *err)
    WSIG_NONNULL(1, 2);

/** Free a reservation (`DEL prefix+key`), so the key can be reserved again.
 *  Returns: WSIG_OK (also when it was not reserved); WSIG_ERR_STORE;
 *           WSIG_ERR_ARG (empty or too long key).
 *  Args:    s.
 *  In:      key. */
WSIG_API WSIG_WARN_UNUSED int wsig_replay_store_release(wsig_replay_store *s, const char *key,
                                                        wsig_error *err) WSIG_NONNULL(1, 2);

/** Drop the caller's reference; the store is freed (connection closed,
 *  password wiped) when its last holder, the caller or a verifier, lets go.
 *  Returns: nothing.
 *  Args:    s (NULL is a no-op). */
WSIG_API void wsig_replay_store_free(wsig_replay_store *s);

typedef struct wsig_message_verifier wsig_message_verifier;

typedef struct wsig_message_verifier_options {
    int64_t window_ms;        /* 0 = 60000; at most WSIG_MAX_WINDOW_MS */
    size_t cache_size;        /* replay cache entries; 0 = 100000, at most WSIG_MAX_CACHE_SIZE */
    int no_replay_cache;      /* 1: skip the replay check (nginx keeps its own) */
    int digest;               /* enum wsig_digest */
    wsig_replay_store *replay_store; /* NULL: the verifier's own in-memory cache (cache_size);
                                        set: this store, shared by every process using it
                                        (the verifier keeps a reference); ignored with
                                        no_replay_cache */
} wsig_message_verifier_options;

/** Message verifier trusting the given addresses.
 *  Returns: WSIG_OK; WSIG_ERR_ARG (an address that is not "0x" + 40 hex,
 *           options out of range); WSIG_ERR_NOMEM.
 *  Out:     *out, owned by the caller (wsig_message_verifier_free); NULL on
 *           failure.
 *  In:      trusted/n_trusted: addresses in any case, "0x" + 40 hex (copied);
 *           opt (NULL for the defaults).
 *  Thread safety: shareable; the replay cache has its own lock. */
WSIG_API WSIG_WARN_UNUSED int wsig_message_verifier_new(wsig_message_verifier **out,
                                                    const char *const *trusted, size_t n_trusted,
                                                    const wsig_message_verifier_options *opt,
                                                    wsig_error *err) WSIG_NONNULL(1);

/** Release the caller's reference to a verifier; it is freed when the last
 *  holder (a client using it as response_verifier keeps its own) lets go.
 *  Returns: nothing.
 *  Args:    v (NULL is a no-op). */
WSIG_API void wsig_message_verifier_free(wsig_message_verifier *v);

/** Returns: the verifier's time window in ms (for callers keeping their own
 *           replay store, such as nginx's lua_shared_dict).
 *  Args:    v. */
WSIG_API int64_t wsig_message_verifier_window_ms(const wsig_message_verifier *v) WSIG_NONNULL(1);

typedef struct wsig_message {
    char address[WSIG_ADDRESS_SIZE];  /* EIP-55 */
    char session[WSIG_DECIMAL_SIZE];  /* decimal, as received */
    char sequence[WSIG_DECIMAL_SIZE]; /* decimal, as received */
    uint64_t session_id;
    uint64_t sequence_no;
    int64_t timestamp_ms;
} wsig_message;

/** Verify a signed message (a request to a Wallet Manager, or a callback).
 *  The signature is 65-byte r||s||v (v 0, 1, 27 or 28) or 64-byte r||s, in
 *  hex with or without 0x; DER and high-S are refused. A header given twice
 *  is malformed_header.
 *  Checks, in order: headers present and well formed, address trusted,
 *  timestamp within the window (inclusive), signature recovers to
 *  X-Message-Address, and
 *  (address, session, sequence) not seen before. A verified message is
 *  recorded in the replay cache. When the cache is full its oldest entry is
 *  evicted and messages not newer than that entry are refused as stale, so a
 *  replay can never slip through an eviction. With opt->replay_store the
 *  record is the store's (wsig_message_replay_key's key and TTL), asked only
 *  once everything else passed; a store that cannot answer is WSIG_ERR_STORE
 *  and the message is not accepted.
 *  Returns: WSIG_OK (out filled); WSIG_INVALID (err->reason); WSIG_ERR_STORE;
 *           or another error status.
 *  Args:    v.
 *  Out:     out, the verified message.
 *  In:      headers/n_headers, body/body_len, now_ms (0 = system clock).
 *  Thread safety: any number of threads may verify with one verifier. */
WSIG_API WSIG_WARN_UNUSED int wsig_message_verify(wsig_message_verifier *v, wsig_message *out,
                                              const wsig_header_ref *headers, size_t n_headers,
                                              const void *body, size_t body_len, int64_t now_ms,
                                              wsig_error *err) WSIG_NONNULL(1, 2);

/* "0x" + 40 hex, two 64-bit decimals, two colons and the NUL. */
#define WSIG_REPLAY_KEY_SIZE 88

/** For a replay store kept outside the verifier (a verifier made with
 *  no_replay_cache, such as nginx's lua_shared_dict): the key under which a
 *  verified message is recorded, and how long the record must live.
 *  Returns: WSIG_OK.
 *  Out:     key, "ADDRESS:SESSION:SEQUENCE" (EIP-55 address, the numbers in
 *           canonical decimal, so "0915" and "915" are one message);
 *           *ttl_ms, two windows and a second (a timestamp one window in the
 *           future stays fresh until two windows from now).
 *  In:      v, the verifier that verified m; m, its result.
 *  A store adds the key only if absent (one atomic add); present means
 *  replay. Prefix it with a namespace of your own. */
WSIG_API int wsig_message_replay_key(const wsig_message_verifier *v, const wsig_message *m,
                                     char key[WSIG_REPLAY_KEY_SIZE], int64_t *ttl_ms)
    WSIG_NONNULL(1, 2, 3, 4);

/** Free the replay record of a message this verifier accepted, because its
 *  handler failed and the sender will deliver it again: the redelivery is
 *  then accepted, once. Works with the in-memory cache and with a store.
 *  Returns: WSIG_OK (also when there was no record); WSIG_ERR_STORE (the
 *           store could not answer: the record may still be there);
 *           WSIG_ERR_ARG (a verifier made with no_replay_cache, or m's
 *           address is not "0x" + 40 hex).
 *  Args:    v.
 *  In:      m, as wsig_message_verify returned it.
 *  Thread safety: as wsig_message_verify. */
WSIG_API WSIG_WARN_UNUSED int wsig_message_release(wsig_message_verifier *v, const wsig_message *m,
                                                   wsig_error *err) WSIG_NONNULL(1, 2);

/* ------------------------------------------------------------------ */
/* JSON-RPC-like envelope of the Wallet Manager                       */

/** Parse a response body.
 *  Returns: WSIG_OK for {"result":X} (with or without "error":null);
 *           WSIG_ERR_RPC for an error object, with err->rpc_code,
 *           err->message, err->data_json; WSIG_ERR_PROTOCOL for anything
 *           else; WSIG_ERR_NOMEM.
 *  Out:     *result_json, X as JSON text (NUL-terminated, wsig_free; NULL on
 *           failure).
 *  In:      body/body_len (NULL is WSIG_ERR_PROTOCOL). */
WSIG_API WSIG_WARN_UNUSED int wsig_rpc_parse(char **result_json, const char *body, size_t body_len,
                                             wsig_error *err) WSIG_NONNULL(1);

/** Build {"result":X} from the JSON text X.
 *  Returns: WSIG_OK; WSIG_ERR_ARG (X is not valid JSON); WSIG_ERR_NOMEM.
 *  Out:     *out (NUL-terminated, wsig_free; NULL on failure), *out_len.
 *  In:      result_json/result_len. */
WSIG_API WSIG_WARN_UNUSED int wsig_rpc_result(char **out, size_t *out_len, const char *result_json,
                                              size_t result_len, wsig_error *err)
    WSIG_NONNULL(1, 2, 3);

/** Build {"error":{"code":C,"message":M[,"data":D]}}.
 *  Returns: WSIG_OK; WSIG_ERR_ARG (data_json is not UTF-8 JSON or message is
 *           not UTF-8); WSIG_ERR_NOMEM.
 *  Out:     *out (NUL-terminated, wsig_free; NULL on failure), *out_len.
 *  In:      code; message (NUL-terminated); data_json (NUL-terminated JSON
 *           text, or NULL for no "data"). */
WSIG_API WSIG_WARN_UNUSED int wsig_rpc_error(char **out, size_t *out_len, long long code,
                                             const char *message, const char *data_json,
                                             wsig_error *err) WSIG_NONNULL(1, 2, 4);

/* ------------------------------------------------------------------ */
/* Rate limits shared by clients                                      */
/* A client takes a token from a bucket before each attempt, so that it  */
/* stays within the server's limit (Halogen: 10 requests/s per key,      */
/* bursts of 10). By default the bucket is process-wide: every client    */
/* that signs with the same key (JWT key id, HMAC api key, message       */
/* address) at the same rate and burst shares one, so four clients with  */
/* one key in four threads together stay within rate and burst. A        */
/* wsig_rate_limit given in wsig_client_options.rate_limit replaces it   */
/* (docs/scale-out.md, "Rate limits").                                   */

typedef struct wsig_rate_limit wsig_rate_limit; /* shareable, own lock, refcounted */

/** Drop the caller's reference to a rate limit; the clients using it keep
 *  theirs, and it is freed with the last.
 *  Returns: nothing.
 *  Args:    l (NULL is a no-op).
 *  Thread safety: any thread; a limiter is shared by any number of
 *                 clients and threads. */
WSIG_API void wsig_rate_limit_free(wsig_rate_limit *l);

/** A token bucket in Redis, shared by every process and machine that uses
 *  the same url, prefix and key identity: one atomic script per request on
 *  one key, prefix + "rate:" + the hex SHA-256 of the client's key identity
 *  (docs/scale-out.md, "Rate limits"; a single key, so it works unchanged on
 *  Redis Cluster), on Redis's clock (TIME), so the machines' clocks do not
 *  matter. EVALSHA, and EVAL when Redis answers NOSCRIPT. The key expires
 *  once the bucket would be full again. A client given it (rate_limit)
 *  takes a token before each attempt; when Redis cannot answer, the call
 *  fails with WSIG_ERR_STORE and nothing is sent (fail closed). url and
 *  opt: as wsig_replay_store_redis_new (no connection is made here).
 *  Returns: WSIG_OK; WSIG_ERR_ARG (the URL, the options, a rate outside
 *           0.001..1e6 per second or a burst outside 1..1e6; 0 = 10 for
 *           both); WSIG_ERR_NOMEM.
 *  Out:     *out, owned by the caller (wsig_rate_limit_free); NULL on failure.
 *  In:      url (copied; the password is wiped on free), rate (tokens per
 *           second), burst (bucket size), opt (NULL = defaults).
 *  Thread safety: shareable by any number of clients and threads; its one
 *  connection is used under a lock (a wait happens outside it). */
WSIG_API WSIG_WARN_UNUSED int wsig_rate_limit_redis_new(wsig_rate_limit **out, const char *url,
                                                        double rate, double burst,
                                                        const wsig_redis_options *opt,
                                                        wsig_error *err) WSIG_NONNULL(1, 2);

/* ------------------------------------------------------------------ */
/* HTTP client (libcurl)                                              */

typedef struct wsig_client wsig_client;

/* Every field is checked by wsig_client_new: a value out of its range is
 * WSIG_ERR_ARG, never replaced by a default. Durations: 0 = the default,
 * else 1 ms to 1 day (WSIG_CLIENT_MAX_SECONDS). Start from
 * WSIG_CLIENT_OPTIONS_INIT (the defaults) and set what you need. */
/* What a client is about to do while a call goes on: a wait or a retry that
 * the caller may want to log (wsig_client_options.on_event). */
typedef enum wsig_client_event_kind {
    WSIG_EVENT_RETRY = 1,       /* a retry after a 5xx or a transport failure, after delay */
    WSIG_EVENT_WAIT_429 = 2,    /* a wait a 429 asked for (Retry-After, else backoff) */
    WSIG_EVENT_WAIT_RATE = 3    /* the client's own rate limiter (rate, burst) */
} wsig_client_event_kind;

/* One event. Only valid during the on_event call; nothing in it is secret:
 * no header, signature, body or query string is ever part of an event. */
typedef struct wsig_client_event {
    int kind;                   /* enum wsig_client_event_kind */
    const char *method;         /* upper-cased, NUL-terminated */
    const char *path;           /* the request path without its query (queries may carry
                                   identifiers): path_len bytes, not NUL-terminated */
    size_t path_len;
    int attempt;                /* the attempt that follows the delay (1 = the first) */
    double delay;               /* seconds the client now waits */
    const char *cause;          /* what led to it, e.g. "HTTP 503", "HTTP 429",
                                   "Couldn't connect to server", "the rate limit" */
} wsig_client_event;

/* Deadlines: timeout bounds a whole call (query, command, call, request),
 * every attempt, Retry-After wait, backoff and rate-limiter wait included;
 * attempt_timeout bounds each attempt within it. A wait that would end past
 * the call's deadline is not begun: the call ends at once with
 * WSIG_ERR_TIMEOUT (curl_code 28; http_status and retry_after of the last
 * answer, if any). An abort_check that returns non-zero ends the call with
 * WSIG_ERR_ABORTED; the client stays usable. */
typedef struct wsig_client_options {
    double timeout;             /* the whole call, seconds, every attempt and wait
                                   included (a deadline); 0 = 10 */
    double connect_timeout;     /* seconds; 0 = 5 */
    int insecure;               /* 1 = do not verify TLS peers (explicit opt-out only) */
    const char *ca_file;        /* CA bundle to trust instead of the system's; NULL = system */
    const char *ca_path;        /* CA directory; NULL = system */
    const char *user_agent;     /* NULL = "walletsign/VERSION (binding)" */
    const char *binding;        /* "c" (NULL), "python" or "lua": names the User-Agent */
    size_t max_response;        /* bytes, at most WSIG_CLIENT_MAX_RESPONSE; 0 = 16 MiB */
    int max_429_attempts;       /* attempts when answered 429, 1..100; 0 = 5 */
    double max_retry_after;     /* cap on a Retry-After wait, seconds; 0 = 30 */
    int max_retries;            /* retries of 5xx/transport failures, 0..100; 0 = none
                                   (it means what it says: the default, 3, is
                                   in WSIG_CLIENT_OPTIONS_INIT) */
    double backoff;             /* first backoff, seconds (doubles, with jitter); 0 = 0.25 */
    double rate;                /* limiter tokens per second, 0.001..1e6; 0 = 10,
                                   < 0 = no limiter */
    double burst;               /* limiter bucket size, 1..1e6; 0 = 10 */
    wsig_message_verifier *response_verifier; /* if set, every answer of every call
                                             (request, query, command, call) must
                                             carry a valid message signature
                                             (the client keeps a reference) */
    double attempt_timeout;     /* one attempt, seconds; 0 = no bound but the
                                   whole call's timeout */
    /* Called from the calling thread at least every 50 ms while a call
     * transfers or waits (Retry-After, retry backoff, the rate limiter), and
     * before each attempt; non-zero aborts the call (WSIG_ERR_ABORTED). NULL
     * = never. abort_ud is passed through untouched. */
    int (*abort_check)(void *abort_ud);
    void *abort_ud;
    /* Called from the calling thread before each wait of a call (a retry's
     * backoff, a 429's wait, the rate limiter's), once the wait is sure to
     * begin (it fits in the deadline); never with a secret in the event.
     * NULL = no events. event_ud is passed through untouched. The callback
     * must not call into this client. */
    void (*on_event)(void *event_ud, const wsig_client_event *event);
    void *event_ud;
    wsig_rate_limit *rate_limit; /* NULL: the process-wide bucket shared by every client
                                    that signs with the same key (JWT key id, HMAC api
                                    key, message address) at the same rate and burst;
                                    set: this limiter, with its own rate and burst (the
                                    client keeps a reference); rate < 0 still means no
                                    limiter at all */
} wsig_client_options;

#define WSIG_CLIENT_MAX_SECONDS 86400.0          /* a day: the longest duration option */
#define WSIG_CLIENT_MAX_RESPONSE (1ull << 30)    /* 1 GiB: answers are held in memory */

/* The defaults, field by field: timeout 10 s, connect 5 s, TLS verified,
 * 16 MiB answers, 5 attempts on 429, Retry-After waits up to 30 s, 3 retries,
 * backoff 0.25 s, a limiter of 10 per second with a burst of 10, no bound per
 * attempt but the call's, no abort_check, no on_event. */
#define WSIG_CLIENT_OPTIONS_INIT                                                          \
    {10.0, 5.0, 0, NULL, NULL, NULL, NULL, 16u << 20, 5, 30.0, 3, 0.25, 10.0, 10.0, NULL, \
     0.0, NULL, NULL, NULL, NULL, NULL}

/** A client for one base URL and one auth.
 *  Returns: WSIG_OK; WSIG_ERR_ARG (base_url not http(s), or with spaces, a
 *           query or a fragment; an option out of its range, named in the
 *           message); WSIG_ERR_NOMEM; WSIG_ERR_TRANSPORT
 *           (curl_global_init failed; it runs once per process).
 *  Out:     *out (wsig_client_free).
 *  In:      base_url; auth and opt->response_verifier: the client takes its
 *           own reference on each, so the caller may free them at once; opt
 *           (NULL for WSIG_CLIENT_OPTIONS_INIT).
 *  Thread safety: one thread at a time per client. */
WSIG_API WSIG_WARN_UNUSED int wsig_client_new(wsig_client **out, const char *base_url,
                                              wsig_auth *auth, const wsig_client_options *opt,
                                              wsig_error *err) WSIG_NONNULL(1, 2, 3);

/** The options in effect: as given to wsig_client_new, defaults applied
 *  (a 0 that means "the default" reads as that default).
 *  Returns: nothing.
 *  Args:    client.
 *  Out:     *out; its pointers (strings, verifier, rate_limit: the limiter
 *           in use, NULL without one, callbacks) are borrowed
 *           from the client and live as long as it does.
 *  Thread safety: any thread (the options never change). */
WSIG_API void wsig_client_get_options(const wsig_client *client, wsig_client_options *out)
    WSIG_NONNULL(1, 2);

/** Free a client and release its references to the auth and the
 *  response_verifier.
 *  Returns: nothing.
 *  Args:    client (NULL is a no-op). */
WSIG_API void wsig_client_free(wsig_client *client);

typedef struct wsig_response {
    long status;
    char *headers;              /* the final response's header block, "Name: value\r\n"... */
    size_t headers_len;
    char *body;                 /* NUL-terminated for convenience; body_len is exact */
    size_t body_len;
    int attempts;               /* how many times the request was sent */
} wsig_response;

/** Free what a response owns (headers, body) and zero it.
 *  Returns: nothing.
 *  In/Out:  res (NULL is a no-op; a zeroed response is fine). */
WSIG_API void wsig_response_clear(wsig_response *res);

/** Walk a response's headers in the order received. Start with *pos = 0.
 *  Returns: 1 with the next header, 0 after the last one.
 *  Out:     *name (*name_len bytes) and *value (*value_len) point into res->headers
 *           (not NUL-terminated; the value without surrounding white space).
 *  In/Out:  *pos, where to go on from.
 *  Every binding reads response headers through this walk, so a header
 *  means the same to all of them. */
WSIG_API int wsig_response_header_next(const wsig_response *res, size_t *pos, const char **name,
                                       size_t *name_len, const char **value, size_t *value_len)
    WSIG_NONNULL(1, 2, 3, 4, 5, 6);

/** Find a header in a response (case-insensitive; the first of that name),
 *  through wsig_response_header_next.
 *  Returns: a pointer into res->headers (not NUL-terminated), or NULL.
 *  Out:     *len, the value's length (0 when NULL is returned).
 *  In:      res, name (NUL-terminated). */
WSIG_API const char *wsig_response_header(const wsig_response *res, const char *name, size_t *len)
    WSIG_NONNULL(1, 2, 3);

/** Send one signed request and return whatever HTTP status came back.
 *  429s are retried; 5xx and transport failures only for GET/HEAD or when
 *  extra headers carry Idempotency-Key.
 *  method: an RFC 9110 token of at most 31 characters, in any case: it is
 *  signed, sent and judged for retries upper-cased ("get" is GET). path_and_query: appended
 *  to the base URL and sent byte for byte as signed (dot segments kept); it
 *  must start with '/' and be printable ASCII without spaces or '#'.
 *  extra: caller headers; names the auth sets (Authorization for jwt, the
 *  configured api-key/signature/timestamp names for hmac, X-Message-* for
 *  message) and Host, Content-Length, Transfer-Encoding are refused.
 *  Any of these refusals is WSIG_ERR_ARG, before anything is sent.
 *  Returns: WSIG_OK for any HTTP status, 3xx included (redirects are never
 *           followed, and res carries the Location header); WSIG_ERR_ARG (a
 *           refusal above); transport, timeout, protocol, aborted
 *           (WSIG_ERR_ABORTED: opt->abort_check); WSIG_INVALID when a
 *           response_verifier refuses the answer, which is then not returned.
 *  Args:    c.
 *  Out:     *res (wsig_response_clear).
 *  In:      method, path_and_query, body/body_len, extra/n_extra.
 *  Thread safety: one thread at a time per client. */
WSIG_API WSIG_WARN_UNUSED int wsig_client_request(wsig_client *c, wsig_response *res,
                                                  const char *method, const char *path_and_query,
                                                  const void *body, size_t body_len,
                                                  const wsig_header_ref *extra, size_t n_extra,
                                                  wsig_error *err) WSIG_NONNULL(1, 2, 3, 4);

/** As wsig_client_request, for a JSON body. Every binding's "json=" goes
 *  through here.
 *  Returns: as wsig_client_request; WSIG_ERR_ARG also when json is not one
 *           UTF-8 JSON value with unique member names (nothing is sent).
 *  Args:    c.
 *  Out:     *res (wsig_response_clear).
 *  In:      method, path_and_query, extra/n_extra as for wsig_client_request;
 *           json/json_len, sent with Content-Type: application/json unless
 *           extra names a Content-Type.
 *  Thread safety: one thread at a time per client. */
WSIG_API WSIG_WARN_UNUSED int wsig_client_request_json(wsig_client *c, wsig_response *res,
                                                       const char *method,
                                                       const char *path_and_query,
                                                       const char *json, size_t json_len,
                                                       const wsig_header_ref *extra,
                                                       size_t n_extra, wsig_error *err)
    WSIG_NONNULL(1, 2, 3, 4, 5);

/** Halogen: POST /query {"name":NAME,"payload":PAYLOAD}.
 *  Returns: WSIG_OK; WSIG_ERR_HTTP for any final status outside 2xx, with
 *           http_status, code, message, body, retry_after (429) and location
 *           (3xx: redirects are not followed); transport, timeout, protocol
 *           (non-JSON answer), aborted (opt->abort_check); WSIG_INVALID (a
 *           response_verifier refused the answer).
 *  Args:    c.
 *  Out:     *result_json, the response body (wsig_free; NULL on failure).
 *  In:      name; payload_json (JSON text; NULL = {}).
 *  Thread safety: one thread at a time per client. */
WSIG_API WSIG_WARN_UNUSED int wsig_client_query(wsig_client *c, char **result_json,
                                                const char *name, const char *payload_json,
                                                wsig_error *err) WSIG_NONNULL(1, 2, 3);

/** Halogen: POST /command. Retried after it may have reached the server only
 *  when idempotency_key is non-NULL (sent as Idempotency-Key).
 *  Returns: as wsig_client_query.
 *  Args:    c.
 *  Out:     *result_json, the response body (wsig_free; NULL on failure).
 *  In:      name; payload_json (JSON text; NULL = {}); idempotency_key or NULL.
 *  Thread safety: one thread at a time per client. */
WSIG_API WSIG_WARN_UNUSED int wsig_client_command(wsig_client *c, char **result_json,
                                                  const char *name, const char *payload_json,
                                                  const char *idempotency_key, wsig_error *err)
    WSIG_NONNULL(1, 2, 3);

/** Wallet Manager style: METHOD path with params_json as the body (POST; NULL
 *  = {}) or no body (GET).
 *  Returns: WSIG_OK; WSIG_ERR_RPC (code, message, data_json); WSIG_ERR_HTTP
 *           (4xx/5xx without an error envelope, and any 1xx/3xx: location for
 *           a redirect); WSIG_INVALID (a signed response failed
 *           verification); WSIG_ERR_ARG; transport, timeout, protocol,
 *           aborted (opt->abort_check).
 *  Args:    c.
 *  Out:     *result_json, the envelope's result (wsig_free; NULL on failure).
 *  In:      method and path as for wsig_client_request; params_json.
 *  Thread safety: one thread at a time per client. */
WSIG_API WSIG_WARN_UNUSED int wsig_client_call(wsig_client *c, char **result_json,
                                               const char *method, const char *path,
                                               const char *params_json, wsig_error *err)
    WSIG_NONNULL(1, 2, 3, 4);

/* ------------------------------------------------------------------ */
/* Pools: many calls at once (batches, async bindings)                */
/* A pool runs client calls on its own worker threads, each with its   */
/* own wsig_client made like the one the pool was made from (same      */
/* base URL, auth, options and rate limiter: one bucket for them all).  */
/* Every job keeps a call's rules: retries, 429 waits, the rate limit,  */
/* the timeout (counted from when a worker starts it); cancelling a job */
/* aborts it as abort_check would (WSIG_ERR_ABORTED). A job's result    */
/* is reported by its done callback and/or wsig_job_wait.               */

typedef struct wsig_pool wsig_pool;
typedef struct wsig_job wsig_job;

enum wsig_job_kind {
    WSIG_JOB_QUERY = 1,         /* wsig_client_query(name, payload_json) */
    WSIG_JOB_COMMAND = 2,       /* wsig_client_command(name, payload_json, idempotency_key) */
    WSIG_JOB_CALL = 3,          /* wsig_client_call(method, path, payload_json) */
    WSIG_JOB_REQUEST = 4,       /* wsig_client_request(method, path, body, extra) */
    WSIG_JOB_REQUEST_JSON = 5   /* wsig_client_request_json(method, path, body, extra) */
};

/* What one job does. The pool copies everything it needs at submission:
 * the caller's strings and buffers may be freed as soon as submit returns. */
typedef struct wsig_job_spec {
    int kind;                       /* enum wsig_job_kind */
    const char *name;               /* QUERY, COMMAND: the operation */
    const char *payload_json;       /* QUERY, COMMAND: payload (NULL = {}); CALL: params */
    const char *idempotency_key;    /* COMMAND: NULL for none */
    const char *method, *path;      /* CALL, REQUEST*: method and path with query */
    const void *body;               /* REQUEST*: the body (JSON text for REQUEST_JSON) */
    size_t body_len;
    const wsig_header_ref *extra;   /* REQUEST*: extra headers */
    size_t n_extra;
    int require_idempotency_key;    /* non-zero: a COMMAND without a key is refused
                                       (batches: a repeated batch must not run a
                                       command twice) */
} wsig_job_spec;

/* Called once per job, in a worker thread (or in the thread that cancels a
 * job still queued, or that frees the pool), after the job is finished:
 * wsig_job_result may be called from it. It must not block for long (it
 * holds up that worker); it may free the job's pool (wsig_pool_free). */
typedef void (*wsig_job_done_fn)(void *done_ud, wsig_job *job);

#define WSIG_POOL_MAX_WORKERS 64

/* How a pool's workers report to the caller. Both hooks run in a worker
 * thread; NULL = none. */
typedef struct wsig_pool_hooks {
    /* The workers' on_event (wsig_client_options.on_event). */
    void (*on_event)(void *ud, const wsig_client_event *event);
    /* Once in each worker thread when it starts (started = 1), and once
     * before it ends (started = 0): a binding may keep per-thread state
     * (Python: a thread state, so done callbacks need not make one each). */
    void (*on_thread)(void *ud, int started);
    void *ud;
} wsig_pool_hooks;

/** A pool of up to max_workers workers, made like client.
 *  Returns: WSIG_OK; WSIG_ERR_ARG (max_workers not 1 to WSIG_POOL_MAX_WORKERS),
 *           WSIG_ERR_NOMEM.
 *  Args:    client: the model (base URL, auth, options); its on_event and
 *           abort_check are not used by the pool's workers. The workers use
 *           the client's rate limiter (the same bucket: the process-wide one
 *           of its key, or the store's it was given), so together they keep
 *           one key's rate. The client may be freed before the pool.
 *           hooks: NULL for none (copied).
 *  Out:     *out (wsig_pool_free).
 *  In:      max_workers: workers are started when jobs wait and fewer run.
 *  Thread safety: call while no other thread uses client. */
WSIG_API WSIG_WARN_UNUSED int wsig_pool_new(wsig_pool **out, wsig_client *client,
                                            int max_workers, const wsig_pool_hooks *hooks,
                                            wsig_error *err) WSIG_NONNULL(1, 2);

/** How many jobs may run at once from now on (a batch's concurrency).
 *  Returns: WSIG_OK; WSIG_ERR_ARG unless 1 <= n <= WSIG_POOL_MAX_WORKERS.
 *  Args:    pool; n: the new limit (above max_workers it raises that too).
 *  Thread safety: any thread. */
WSIG_API WSIG_WARN_UNUSED int wsig_pool_set_workers(wsig_pool *pool, int n, wsig_error *err)
    WSIG_NONNULL(1);

/** Queue one job.
 *  Returns: WSIG_OK; WSIG_ERR_ARG (a bad spec: unknown kind, a missing
 *           name/method/path, a COMMAND without a required key, a closed
 *           pool), WSIG_ERR_NOMEM, WSIG_ERR_TRANSPORT (no worker could start).
 *           Errors of the call itself are the job's (wsig_job_result).
 *  Args:    pool; spec (copied); done/done_ud: called when the job finishes
 *           (NULL: none; use wsig_job_wait).
 *  Out:     *out: the job (wsig_job_free, also after the pool is freed).
 *  Thread safety: any thread. */
WSIG_API WSIG_WARN_UNUSED int wsig_pool_submit(wsig_pool *pool, wsig_job **out,
                                               const wsig_job_spec *spec,
                                               wsig_job_done_fn done, void *done_ud,
                                               wsig_error *err)
    WSIG_NONNULL(1, 2, 3);

/** Check a job spec as wsig_pool_submit would, without queuing it (a
 *  batch checks every item before it sends any).
 *  Returns: WSIG_OK or WSIG_ERR_ARG (as wsig_pool_submit's spec errors).
 *  Args:    spec.
 *  Thread safety: any thread. */
WSIG_API WSIG_WARN_UNUSED int wsig_job_spec_check(const wsig_job_spec *spec, wsig_error *err)
    WSIG_NONNULL(1);

/** Abort a job: a queued one finishes at once (its done runs in this
 *  thread), a running one within 50 ms (its transfer is closed). Either
 *  ends with WSIG_ERR_ABORTED; a finished job is left as it is.
 *  Returns: nothing.
 *  Args:    job.
 *  Thread safety: any thread; may be called more than once. */
WSIG_API void wsig_job_cancel(wsig_job *job) WSIG_NONNULL(1);

/** Wait for a job to finish, for at most timeout_s seconds (0: just look).
 *  Returns: 1 when the job is finished, 0 when the time ran out first.
 *  Args:    job; timeout_s.
 *  Thread safety: any thread. */
WSIG_API int wsig_job_wait(wsig_job *job, double timeout_s) WSIG_NONNULL(1);

/** A finished job's outcome, handed over once (a second call finds nothing).
 *  Returns: the call's status (as wsig_client_query & co.); WSIG_ERR_ARG if
 *           the job is not finished.
 *  Args:    job.
 *  Out:     *result_json (QUERY, COMMAND, CALL; wsig_free), *res (REQUEST*;
 *           wsig_response_clear); either may be NULL when the kind has no
 *           use for it. err: the call's error, its body and location too.
 *  Thread safety: any thread, once the job is finished. */
WSIG_API WSIG_WARN_UNUSED int wsig_job_result(wsig_job *job, char **result_json,
                                              wsig_response *res, wsig_error *err)
    WSIG_NONNULL(1);

/** Release the caller's hold on a job (the pool lets go of it when it ends).
 *  Returns: nothing.
 *  Args:    job (NULL is a no-op); a job still running is not cancelled.
 *  Thread safety: once per job. */
WSIG_API void wsig_job_free(wsig_job *job);

/** Close a pool: queued jobs finish as aborted, running ones are aborted,
 *  then the workers are joined and their connections closed.
 *  Returns: nothing.
 *  Args:    pool (NULL is a no-op). Jobs the caller holds stay valid.
 *  Thread safety: no other call on the pool after. From a done callback it
 *           works too (that worker is detached and ends by itself). In a
 *           child of fork() a pool made before it has no workers: submit
 *           refuses it (WSIG_ERR_ARG) and free abandons it (releases nothing,
 *           closes none of the parent's connections); make a new pool. */
WSIG_API void wsig_pool_free(wsig_pool *pool);

/* ------------------------------------------------------------------ */
/* JSON for bindings                                                  */
/* A binding converts between JSON and its own values with these and   */
/* holds no JSON rule of its own: what is valid, UTF-8, duplicate      */
/* names, escaping and number text are decided here.                   */

/** Deepest nesting of arrays and objects, read or written (cJSON's limit). */
#define WSIG_JSON_MAX_DEPTH 1000

enum wsig_json_type {
    WSIG_JSON_NULL = 0,
    WSIG_JSON_FALSE,
    WSIG_JSON_TRUE,
    WSIG_JSON_NUMBER,
    WSIG_JSON_STRING,
    WSIG_JSON_ARRAY,
    WSIG_JSON_OBJECT
};

typedef struct wsig_json_doc wsig_json_doc;     /* a parsed document (owned) */
typedef struct wsig_json_value wsig_json_value; /* a value inside one (borrowed) */

/** Parse len bytes of JSON text under the rules of every JSON the core reads:
 *  UTF-8 (RFC 8259 §8.1), exactly one value plus JSON whitespace, numbers in
 *  RFC 8259 §6 form, no raw control byte, no \u0000 (strings and names are
 *  handed out as C-compatible text, so they never hold a NUL), no object
 *  naming a member twice, at most WSIG_JSON_MAX_DEPTH levels.
 *  Returns: WSIG_OK; WSIG_ERR_ARG (the message says which rule failed);
 *           WSIG_ERR_NOMEM.
 *  Out:     *out, a document owned by the caller (wsig_json_free); NULL on failure.
 *  In:      text/len (copied: it need not outlive the call).
 *  A document is immutable: any number of threads may read it. */
WSIG_API WSIG_WARN_UNUSED int wsig_json_parse(wsig_json_doc **out, const char *text, size_t len,
                                              wsig_error *err) WSIG_NONNULL(1, 2);

/** Free a document and every value in it.
 *  Returns: nothing.
 *  Args:    doc (NULL is a no-op). */
WSIG_API void wsig_json_free(wsig_json_doc *doc);

/** Returns: the document's top-level value (valid until wsig_json_free);
 *           never NULL.
 *  Args:    doc. */
WSIG_API const wsig_json_value *wsig_json_root(const wsig_json_doc *doc) WSIG_NONNULL(1);

/** Returns: the value's enum wsig_json_type.
 *  In:      v. */
WSIG_API int wsig_json_type(const wsig_json_value *v) WSIG_NONNULL(1);

/** Returns: the number of elements of an array or members of an object; 0
 *           for the rest.
 *  In:      v. */
WSIG_API size_t wsig_json_count(const wsig_json_value *v) WSIG_NONNULL(1);

/** Returns: the first element or member of an array or object, in document
 *           order; NULL when empty or not a container.
 *  In:      v. */
WSIG_API const wsig_json_value *wsig_json_first(const wsig_json_value *v) WSIG_NONNULL(1);

/** Returns: the element or member after v in its container; NULL after the
 *           last.
 *  In:      v. */
WSIG_API const wsig_json_value *wsig_json_next(const wsig_json_value *v) WSIG_NONNULL(1);

/** Member name of a value inside an object.
 *  Returns: the name, unescaped UTF-8 without NUL (NUL-terminated too; valid
 *           until wsig_json_free); NULL for any other value.
 *  Out:     *len, its length in bytes (0 when NULL is returned).
 *  In:      v. */
WSIG_API const char *wsig_json_key(const wsig_json_value *v, size_t *len) WSIG_NONNULL(1, 2);

/** A string's value.
 *  Returns: the string, unescaped UTF-8 without NUL (NUL-terminated too;
 *           valid until wsig_json_free); NULL when v is not a string.
 *  Out:     *len, its length in bytes (0 when NULL is returned).
 *  In:      v. */
WSIG_API const char *wsig_json_string(const wsig_json_value *v, size_t *len) WSIG_NONNULL(1, 2);

/** A number exactly as written in the document, so a binding can convert it
 *  without rounding.
 *  Returns: the number's text (RFC 8259 §6 form, e.g.
 *           "123456789012345678901", "-0.5e-3"; not NUL-terminated; valid
 *           until wsig_json_free); NULL when v is not a number.
 *  Out:     *len, its length in bytes (0 when NULL is returned).
 *  In:      v. */
WSIG_API const char *wsig_json_number_text(const wsig_json_value *v, size_t *len)
    WSIG_NONNULL(1, 2);

/** A number written as an integer (no fraction, no exponent) as int64.
 *  Returns: 1 and *out set when it fits int64; -1 for an integer beyond
 *           int64 (take wsig_json_number_text); 0 for a number with a
 *           fraction or exponent, or a value that is not a number.
 *  Out:     *out (untouched unless 1 is returned).
 *  In:      v. */
WSIG_API int wsig_json_number_int64(const wsig_json_value *v, int64_t *out) WSIG_NONNULL(1, 2);

/** A number as the nearest double.
 *  Returns: the double (locale-independent; +-HUGE_VAL beyond the double
 *           range); 0 when v is not a number.
 *  In:      v. */
WSIG_API double wsig_json_number_double(const wsig_json_value *v) WSIG_NONNULL(1);

/** A writer of compact JSON text: exactly one top-level value, built by the
 *  calls below in document order. Misuse (a value where a member name is
 *  due, a name outside an object, an end that closes nothing or the wrong
 *  container, a second top-level value, nesting beyond WSIG_JSON_MAX_DEPTH)
 *  is WSIG_ERR_ARG. The first failure sticks: every later call returns it.
 *  The writer does not check that member names are unique (the core refuses
 *  JSON that repeats one): a caller writing a map cannot repeat a name.
 *  One thread at a time. */
typedef struct wsig_json_writer wsig_json_writer;

/** A new, empty writer.
 *  Returns: WSIG_OK; WSIG_ERR_NOMEM.
 *  Out:     *out, owned by the caller (wsig_json_writer_free); NULL on failure. */
WSIG_API WSIG_WARN_UNUSED int wsig_json_writer_new(wsig_json_writer **out, wsig_error *err)
    WSIG_NONNULL(1);

/** Free a writer and its text.
 *  Returns: nothing.
 *  Args:    w (NULL is a no-op). */
WSIG_API void wsig_json_writer_free(wsig_json_writer *w);

/** Open an object.
 *  Returns: WSIG_OK; WSIG_ERR_ARG (misuse, too deep); WSIG_ERR_NOMEM.
 *  Args:    w. */
WSIG_API WSIG_WARN_UNUSED int wsig_json_write_begin_object(wsig_json_writer *w, wsig_error *err)
    WSIG_NONNULL(1);

/** Close the innermost container, which must be an object.
 *  Returns: WSIG_OK; WSIG_ERR_ARG (misuse); WSIG_ERR_NOMEM.
 *  Args:    w. */
WSIG_API WSIG_WARN_UNUSED int wsig_json_write_end_object(wsig_json_writer *w, wsig_error *err)
    WSIG_NONNULL(1);

/** Open an array.
 *  Returns: WSIG_OK; WSIG_ERR_ARG (misuse, too deep); WSIG_ERR_NOMEM.
 *  Args:    w. */
WSIG_API WSIG_WARN_UNUSED int wsig_json_write_begin_array(wsig_json_writer *w, wsig_error *err)
    WSIG_NONNULL(1);

/** Close the innermost container, which must be an array.
 *  Returns: WSIG_OK; WSIG_ERR_ARG (misuse); WSIG_ERR_NOMEM.
 *  Args:    w. */
WSIG_API WSIG_WARN_UNUSED int wsig_json_write_end_array(wsig_json_writer *w, wsig_error *err)
    WSIG_NONNULL(1);

/** The name of the next member of the innermost object, then its value.
 *  Escaped per RFC 8259 §7 (", \, and control bytes; a NUL as \u0000).
 *  Returns: WSIG_OK; WSIG_ERR_ARG (not UTF-8, not inside an object, a name
 *           already pending); WSIG_ERR_NOMEM.
 *  Args:    w.
 *  In:      key/len (may hold NUL bytes). */
WSIG_API WSIG_WARN_UNUSED int wsig_json_write_key(wsig_json_writer *w, const char *key, size_t len,
                                                  wsig_error *err) WSIG_NONNULL(1, 2);

/** A string value, escaped as wsig_json_write_key escapes names.
 *  Returns: WSIG_OK; WSIG_ERR_ARG (not UTF-8, misuse); WSIG_ERR_NOMEM.
 *  Args:    w.
 *  In:      s/len (may hold NUL bytes). */
WSIG_API WSIG_WARN_UNUSED int wsig_json_write_string(wsig_json_writer *w, const char *s, size_t len,
                                                     wsig_error *err) WSIG_NONNULL(1, 2);

/** An integer value, written exactly.
 *  Returns: WSIG_OK; WSIG_ERR_ARG (misuse); WSIG_ERR_NOMEM.
 *  Args:    w.
 *  In:      v. */
WSIG_API WSIG_WARN_UNUSED int wsig_json_write_int64(wsig_json_writer *w, int64_t v, wsig_error *err)
    WSIG_NONNULL(1);

/** A number given as text (e.g. from wsig_json_number_text), copied as is.
 *  Returns: WSIG_OK; WSIG_ERR_ARG (not in RFC 8259 §6 form, misuse);
 *           WSIG_ERR_NOMEM.
 *  Args:    w.
 *  In:      text/len. */
WSIG_API WSIG_WARN_UNUSED int wsig_json_write_number(wsig_json_writer *w, const char *text,
                                                     size_t len, wsig_error *err) WSIG_NONNULL(1, 2);

/** A double, in the shortest of %.14g and %.17g that reads back as the same
 *  double, with '.' whatever the locale.
 *  Returns: WSIG_OK; WSIG_ERR_ARG (NaN or infinity, misuse); WSIG_ERR_NOMEM.
 *  Args:    w.
 *  In:      v. */
WSIG_API WSIG_WARN_UNUSED int wsig_json_write_double(wsig_json_writer *w, double v, wsig_error *err)
    WSIG_NONNULL(1);

/** true or false.
 *  Returns: WSIG_OK; WSIG_ERR_ARG (misuse); WSIG_ERR_NOMEM.
 *  Args:    w.
 *  In:      v (true when non-zero). */
WSIG_API WSIG_WARN_UNUSED int wsig_json_write_bool(wsig_json_writer *w, int v, wsig_error *err)
    WSIG_NONNULL(1);

/** null.
 *  Returns: WSIG_OK; WSIG_ERR_ARG (misuse); WSIG_ERR_NOMEM.
 *  Args:    w. */
WSIG_API WSIG_WARN_UNUSED int wsig_json_write_null(wsig_json_writer *w, wsig_error *err)
    WSIG_NONNULL(1);

/** The finished text: one complete value, no whitespace, NUL-terminated.
 *  Returns: WSIG_OK; WSIG_ERR_ARG (no value yet, or a container still open);
 *           or the writer's earlier failure.
 *  Args:    w.
 *  Out: *text (owned by the writer, valid until the next write or
 *       wsig_json_writer_free), *len (its length without the NUL). */
WSIG_API WSIG_WARN_UNUSED int wsig_json_writer_text(wsig_json_writer *w, const char **text,
                                                    size_t *len, wsig_error *err)
    WSIG_NONNULL(1, 2, 3);

/* ------------------------------------------------------------------ */
/* For known answers and tests only                                   */
/* These fix what must be fresh in production (a JWT's nonce, a        */
/* message's session and sequence), so tests and known-answer vectors  */
/* can compare exact bytes. Never sign real requests with them: the    */
/* server's replay checks rely on those values being new.              */

/** jwt only, for known answers: a token with a fixed iat and nonce. Never use
 *  in production: a fixed nonce defeats the server's replay check.
 *  Returns: WSIG_OK; WSIG_ERR_ARG (not a jwt auth, nonce_hex not 40 hex
 *           digits, a uri as for wsig_jwt_token); WSIG_ERR_CRYPTO;
 *           WSIG_ERR_NOMEM.
 *  Args:    auth.
 *  Out:     *token (NUL-terminated, wsig_free; NULL on failure).
 *  In:      uri; body/body_len; iat (seconds, used as given);
 *           nonce_hex (the 20-byte nonce as 40 hex digits). */
WSIG_API WSIG_WARN_UNUSED int wsig_jwt_token_fixed(wsig_auth *auth, char **token, const char *uri,
                                                   const void *body, size_t body_len, int64_t iat,
                                                   const char *nonce_hex, wsig_error *err)
    WSIG_NONNULL(1, 2, 3, 7);

/** message only, for known answers: sign with a given session and sequence
 *  (the auth's own sequence does not move).
 *  Returns: WSIG_OK; WSIG_ERR_ARG (not a message auth, body NULL with a
 *           body_len); WSIG_ERR_CRYPTO.
 *  Args:    auth.
 *  Out:     out, the headers to send (out->count is 0 on failure).
 *  In:      session, sequence; body/body_len; timestamp_ms (0 = system clock).
 *  Thread safety: as wsig_auth_sign. */
WSIG_API WSIG_WARN_UNUSED int wsig_message_sign_fixed(wsig_auth *auth, wsig_headers *out,
                                                      uint64_t session, uint64_t sequence,
                                                      const void *body, size_t body_len,
                                                      int64_t timestamp_ms, wsig_error *err)
    WSIG_NONNULL(1, 2);

#ifdef __cplusplus
}
#endif
#endif /* WALLETSIGN_H */
