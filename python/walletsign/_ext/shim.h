/*
 * walletsign._walletsign — the CPython shim over the walletsign C core.
 *
 * It converts values and errors and nothing else: every protocol decision is
 * made by the core through the public header. Rules kept throughout:
 *  - the GIL is released around every signature, verification, key
 *    generation/load and HTTP call; inside, no Python object is touched (the
 *    inputs are C strings borrowed from immutable objects we hold a reference
 *    to, or Py_buffer views held across the call);
 *  - secrets passed in (HMAC secrets, passwords, hex private keys) are copied
 *    to C memory and wiped after use, and never appear in a message or repr;
 *  - every wsig_error is cleared, and C memory freed, before raising.
 *
 * Multi-phase init, heap types (PyType_FromModuleAndSpec); the module state
 * holds the types, the exception classes (defined in walletsign/_errors.py)
 * and the few Python helpers (JSON, Message, Response) from walletsign/_types.py.
 *
 * The shim is split by type, one file each (pycurl's src/module.c, easy.c,
 * ...): module.c (module state, method table, exec slot), convert.c (argument
 * parsing and value conversion), errors.c (status -> exception), key.c,
 * auth.c, verify.c, replay_store.c, rpc.c, client.c and ratelimit.c. This private header declares what
 * they share; every shared name starts with wsp_ and nothing but
 * PyInit__walletsign is exported (_walletsign.map).
 */
#ifndef WALLETSIGN_PY_SHIM_H
#define WALLETSIGN_PY_SHIM_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <walletsign.h>

/* ------------------------------------------------------------------ */
/* Module state                                                       */

typedef struct {
    PyTypeObject *Key_Type;
    PyTypeObject *Auth_Type;
    PyTypeObject *JwtAuth_Type;
    PyTypeObject *HmacAuth_Type;
    PyTypeObject *MessageAuth_Type;
    PyTypeObject *HmacVerifier_Type;
    PyTypeObject *MessageVerifier_Type;
    PyTypeObject *Client_Type;
    PyTypeObject *RedisRateLimit_Type;
    PyTypeObject *RedisReplayStore_Type;
    PyTypeObject *Pool_Type, *Job_Type, *Completions_Type;
    /* exceptions (walletsign._errors) */
    PyObject *Error, *KeyFormatError, *PasswordError, *CryptoError, *FileError;
    PyObject *SignatureError, *TransportError, *Timeout, *ProtocolError;
    PyObject *ApiError, *BadRequest, *Unauthorized, *Forbidden, *NotFound, *Gone;
    PyObject *PreconditionFailed, *RateLimited, *ServerError, *RpcError;
    PyObject *Redirect, *StoreError;
    PyObject *WeakKeyWarning;
    /* helpers (walletsign._types) */
    PyObject *Message, *Response, *json_dumps, *json_loads, *json_scan_once, *client_from_env;
    PyObject *Verified; /* MessageVerifier.verified()'s context manager */
    /* helpers (walletsign._web) */
    PyObject *wsgi_headers, *asgi_headers;
} wsmod_state;

wsmod_state *wsp_state_of_module(PyObject *module);
wsmod_state *wsp_state_of_type(PyTypeObject *tp);
#define STATE_OF(self) wsp_state_of_type(Py_TYPE(self))

/* ------------------------------------------------------------------ */
/* Objects more than one file reaches into                            */

typedef struct {
    PyObject_HEAD
    wsig_key *key;
} KeyObject;

typedef struct {
    PyObject_HEAD
    wsig_auth *auth;
    PyObject *label;   /* key id / api key (not secret), for repr */
    char address[WSIG_ADDRESS_SIZE];  /* MessageAuth only */
    PyObject *last[WSIG_MAX_HEADERS][2]; /* str objects of the last headers made */
} AuthObject;

typedef struct {
    PyObject_HEAD
    wsig_message_verifier *v;
    PyObject *store;      /* the RedisReplayStore given, or NULL (for repr and .replay_store) */
    Py_ssize_t n_trusted; /* for repr */
    int replay_cache;     /* for repr: 0 when made with replay_cache=False */
} MessageVerifierObject;

typedef struct {
    PyObject_HEAD
    wsig_rate_limit *limit; /* a client given it takes its own reference */
    double rate, burst;     /* as given, for repr */
} RateLimitObject;

#include <pythread.h>

typedef struct {
    PyObject_HEAD
    wsig_client *client; /* holds its own references on the C auth and verifier */
    PyObject *auth;      /* for the auth property */
    PyObject *base_url;
    PyObject *pool;      /* a walletsign._walletsign._Pool, made by _pool() */
    PyThread_type_lock lock; /* a wsig_client is one-thread-at-a-time */
    PyThreadState *caller;   /* the thread state a call in progress released */
} ClientObject;

/* ------------------------------------------------------------------ */
/* Conversion helpers (convert.c)                                     */

/* Bytes in: str (UTF-8), bytes-like (a held Py_buffer) or None (empty). */
typedef struct {
    Py_buffer view;
    int has_view;
    const char *ptr;
    size_t len;
} inbuf;

/* A secret copied to C memory (NUL-terminated), wiped when released. */
typedef struct {
    char *p;
    size_t len;
} secret;

/* Headers given to a verifier: a mapping or an iterable of (name, value)
 * pairs; names and values str (or bytes, read as Latin-1 like HTTP). */
typedef struct {
    PyObject *items; /* list of pairs (keeps the strings alive) */
    PyObject *keep;  /* list of converted strings */
    wsig_header_ref *refs;
    size_t n;
} header_list;

int wsp_parse_args(const char *fname, const char *const *names, int npos, int nreq,
                   PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, PyObject **out);
#define NARGS(names) (sizeof(names) / sizeof((names)[0]) - 1)

const char *wsp_as_cstr(PyObject *o, const char *what, Py_ssize_t *len_out);
const char *wsp_as_str(PyObject *o, const char *what);
const char *wsp_as_opt_str(PyObject *o, const char *what, int *failed);
int wsp_inbuf_get(inbuf *b, PyObject *o, const char *what);
void wsp_inbuf_release(inbuf *b);
int wsp_secret_get(secret *s, PyObject *o, const char *what, int allow_none, int allow_nul);
void wsp_secret_release(secret *s);
int wsp_as_time(PyObject *o, const char *what, int64_t *out);
int wsp_as_long_in(PyObject *o, const char *what, long lo, long hi, long *out);
int wsp_as_u64(PyObject *o, const char *what, uint64_t *out);
int wsp_as_option(wsmod_state *st, PyObject *o, const char *what, int option, int def);
PyObject *wsp_to_json(wsmod_state *st, PyObject *obj);
PyObject *wsp_from_json(wsmod_state *st, const char *text, size_t len);
int wsp_header_list_get(header_list *h, PyObject *headers);
int wsp_verify_headers_get(wsmod_state *st, header_list *h, PyObject *headers);
void wsp_header_list_release(header_list *h);
int wsp_hmac_options(wsmod_state *st, wsig_hmac_options *o, PyObject *enc, PyObject *sep,
                     PyObject *akh, PyObject *sigh, PyObject *tsh);

/* ------------------------------------------------------------------ */
/* Errors (errors.c)                                                  */

PyObject *wsp_raise_wsig(wsmod_state *st, int rc, wsig_error *err);
PyObject *wsp_raise_status(wsmod_state *st, int status, int reason, const char *message);

/* ------------------------------------------------------------------ */
/* Types (key.c, auth.c, verify.c, client.c) and module functions     */
/* (verify.c, rpc.c), gathered by module.c                            */

extern PyType_Spec wsp_Key_spec;
wsig_key *wsp_key_arg(wsmod_state *st, PyObject *o, const char *what);
extern PyType_Spec wsp_Auth_spec, wsp_JwtAuth_spec, wsp_HmacAuth_spec, wsp_MessageAuth_spec;
extern PyType_Spec wsp_HmacVerifier_spec, wsp_MessageVerifier_spec;
extern PyType_Spec wsp_Client_spec;
extern PyType_Spec wsp_RedisRateLimit_spec;
extern PyType_Spec wsp_RedisReplayStore_spec;
/* The store of a RedisReplayStore (borrowed), or NULL with TypeError. */
wsig_replay_store *wsp_replay_store_arg(wsmod_state *st, PyObject *o);
extern PyType_Spec wsp_Pool_spec, wsp_Job_spec, wsp_Completions_spec;

/* Shared by client.c and pool.c */
PyObject *wsp_call_failed(wsmod_state *st, int rc, wsig_error *err);
int wsp_payload_json(wsmod_state *st, PyObject *o, PyObject **out);
PyObject *wsp_response_object(wsmod_state *st, wsig_response *res);
void wsp_log_client_event(const wsig_client_event *e);
int wsp_pool_is_inherited(PyObject *pool);

PyObject *wsp_verify_jwt(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                         PyObject *kwnames);
PyObject *wsp_rpc_result(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                         PyObject *kwnames);
PyObject *wsp_rpc_error(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                        PyObject *kwnames);
PyObject *wsp_rpc_parse(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                        PyObject *kwnames);
extern const char wsp_verify_jwt_doc[], wsp_rpc_result_doc[];
extern const char wsp_rpc_error_doc[], wsp_rpc_parse_doc[], wsp_json_loads_doc[];
PyObject *wsp_json_loads(PyObject *module, PyObject *data);

#endif
