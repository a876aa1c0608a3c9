/* Failures: a core status (wsig_error) -> the matching walletsign exception
 * (the classes come from walletsign/_errors.py, see docs/errors.md). */
#include "shim.h"

/* ------------------------------------------------------------------ */
/* Errors                                                             */

static PyObject *api_error_class(wsmod_state *st, long status)
{
    switch (status) {
    case 400: return st->BadRequest;
    case 401: return st->Unauthorized;
    case 403: return st->Forbidden;
    case 404: return st->NotFound;
    case 410: return st->Gone;
    case 412: return st->PreconditionFailed;
    case 429: return st->RateLimited;
    default:
        return status >= 500 ? st->ServerError
               : status >= 300 && status <= 399 ? st->Redirect
                                                : st->ApiError;
    }
}

static int set_kw(PyObject *kw, const char *name, PyObject *value)
{
    if (!value)
        return -1;
    int rc = PyDict_SetItemString(kw, name, value);
    Py_DECREF(value);
    return rc;
}

static PyObject *opt_text(const char *s)
{
    return *s ? PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace") : Py_NewRef(Py_None);
}

/* Turn a failed status into the matching Python exception. The record is
 * copied, then cleared (freeing body/data_json) before anything is raised.
 * Always returns NULL. */
PyObject *wsp_raise_wsig(wsmod_state *st, int rc, wsig_error *err)
{
    if (!st) { /* the module's state is gone: its exception is already set */
        wsig_error_clear(err);
        return NULL;
    }
    char message[sizeof err->message], code[sizeof err->code];
    memcpy(message, err->message, sizeof message);
    message[sizeof message - 1] = '\0';
    memcpy(code, err->code, sizeof code);
    code[sizeof code - 1] = '\0';
    const char *reason = wsig_reason_name(err->reason);
    long http_status = err->http_status;
    int curl_code = err->curl_code;
    long long rpc_code = err->rpc_code;
    double retry_after = err->retry_after;
    err->status = rc; /* the status this failure is raised as */
    unsigned f = wsig_error_fields(err); /* location, body and data: copied below when set */
    PyObject *body = NULL, *data_json = NULL, *location = NULL;
    if (err->body)
        body = PyBytes_FromStringAndSize(err->body, (Py_ssize_t)err->body_len);
    if (err->data_json)
        data_json = PyBytes_FromString(err->data_json);
    if (err->location)
        location = PyUnicode_DecodeLatin1(err->location, (Py_ssize_t)strlen(err->location), NULL);
    int copy_failed = (err->body && !body) || (err->data_json && !data_json) ||
                      (err->location && !location);
    wsig_error_clear(err);
    if (copy_failed) {
        Py_XDECREF(body);
        Py_XDECREF(data_json);
        Py_XDECREF(location);
        return NULL;
    }
    if (!message[0])
        snprintf(message, sizeof message, "%s", wsig_status_name(rc));

    if (rc == WSIG_ERR_NOMEM) {
        Py_XDECREF(body);
        Py_XDECREF(data_json);
        Py_XDECREF(location);
        return PyErr_NoMemory();
    }
    if (rc == WSIG_ERR_ARG) {
        Py_XDECREF(body);
        Py_XDECREF(data_json);
        Py_XDECREF(location);
        PyErr_SetString(PyExc_ValueError, message);
        return NULL;
    }

    PyObject *cls;
    switch (rc) {
    case WSIG_INVALID: cls = st->SignatureError; break;
    case WSIG_ERR_KEY: cls = st->KeyFormatError; break;
    case WSIG_ERR_PASSWORD: cls = st->PasswordError; break;
    case WSIG_ERR_CRYPTO: cls = st->CryptoError; break;
    case WSIG_ERR_IO: cls = st->FileError; break;
    case WSIG_ERR_PROTOCOL: cls = st->ProtocolError; break;
    case WSIG_ERR_TRANSPORT: cls = st->TransportError; break;
    case WSIG_ERR_TIMEOUT: cls = st->Timeout; break;
    case WSIG_ERR_HTTP: cls = api_error_class(st, http_status); break;
    case WSIG_ERR_RPC: cls = st->RpcError; break;
    case WSIG_ERR_STORE: cls = st->StoreError; break;
    default: cls = st->Error; break;
    }

    PyObject *data = NULL;
    if (data_json) {
        data = PyObject_CallOneArg(st->json_loads, data_json);
        if (!data) /* keep the raw text rather than lose the error */
            PyErr_Clear(), data = PyUnicode_DecodeUTF8(PyBytes_AS_STRING(data_json),
                                                       PyBytes_GET_SIZE(data_json), "replace");
    }
    PyObject *kw = PyDict_New();
    PyObject *args = PyUnicode_DecodeUTF8(message, (Py_ssize_t)strlen(message), "replace");
    int bad = !kw || !args || (data_json && !data);
    if (!bad) {
        PyObject *t = PyTuple_Pack(1, args);
        Py_DECREF(args);
        args = t;
        bad = !args;
    }
    /* The fields of a failure, under the names every surface uses
     * (docs/errors.md); which apply is the core's rule. */
    if (!bad)
        bad = set_kw(kw, "kind", PyUnicode_FromString(wsig_status_name(rc))) ||
              (f & WSIG_FIELD_REASON && set_kw(kw, "reason", PyUnicode_FromString(reason))) ||
              (f & WSIG_FIELD_HTTP_STATUS && set_kw(kw, "http_status", PyLong_FromLong(http_status))) ||
              (f & WSIG_FIELD_CODE && set_kw(kw, "code", opt_text(code))) ||
              (f & WSIG_FIELD_RPC_CODE && set_kw(kw, "rpc_code", PyLong_FromLongLong(rpc_code))) ||
              (f & WSIG_FIELD_RETRY_AFTER &&
               set_kw(kw, "retry_after", PyFloat_FromDouble(retry_after))) ||
              (f & WSIG_FIELD_CURL_CODE && set_kw(kw, "curl_code", PyLong_FromLong(curl_code))) ||
              (location && set_kw(kw, "location", Py_NewRef(location))) ||
              (body && set_kw(kw, "body", Py_NewRef(body))) ||
              (data && set_kw(kw, "data", Py_NewRef(data)));
    if (!bad) {
        PyObject *exc = PyObject_Call(cls, args, kw);
        if (exc) {
            PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
            Py_DECREF(exc);
        }
    }
    Py_XDECREF(kw);
    Py_XDECREF(args);
    Py_XDECREF(data);
    Py_XDECREF(body);
    Py_XDECREF(data_json);
    Py_XDECREF(location);
    return NULL;
}

/* Raise a failure as the core would have reported it (same exception, same
 * attributes): for text from the network that cannot become a str. */
PyObject *wsp_raise_status(wsmod_state *st, int status, int reason, const char *message)
{
    wsig_error err = WSIG_ERROR_INIT;
    err.status = status;
    err.reason = reason;
    snprintf(err.message, sizeof err.message, "%s", message);
    return wsp_raise_wsig(st, status, &err);
}
