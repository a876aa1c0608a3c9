/* The Wallet Manager JSON-RPC envelope: walletsign.rpc_result,
 * walletsign.rpc_error and walletsign.rpc_parse. */
#include "shim.h"

/* ------------------------------------------------------------------ */
/* JSON-RPC envelope                                                  */

/* An envelope the core built, as bytes; or the core's error. */
static PyObject *envelope_bytes(wsmod_state *st, int rc, wsig_error *err, char *out, size_t len)
{
    if (rc != WSIG_OK)
        return wsp_raise_wsig(st, rc, err);
    wsig_error_clear(err);
    PyObject *res = PyBytes_FromStringAndSize(out, (Py_ssize_t)len);
    wsig_free(out);
    return res;
}

const char wsp_rpc_result_doc[] = PyDoc_STR(
"rpc_result($module, /, result)\n--\n\n"
"The Wallet Manager success body {\"result\": result} as bytes (result is any\n"
"JSON-serialisable value).");

PyObject *wsp_rpc_result(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                         PyObject *kwnames)
{
    static const char *const names[] = {"result", NULL};
    PyObject *a[NARGS(names)];
    wsmod_state *st = wsp_state_of_module(module);
    if (wsp_parse_args("rpc_result", names, 1, 1, args, nargs, kwnames, a) < 0)
        return NULL;
    PyObject *json = wsp_to_json(st, a[0]);
    if (!json)
        return NULL;
    char *out = NULL;
    size_t len = 0;
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_rpc_result(&out, &len, PyBytes_AS_STRING(json), (size_t)PyBytes_GET_SIZE(json),
                             &err);
    Py_DECREF(json);
    return envelope_bytes(st, rc, &err, out, len);
}

const char wsp_rpc_error_doc[] = PyDoc_STR(
"rpc_error($module, /, code, message, data=None)\n--\n\n"
"The Wallet Manager failure body {\"error\": {\"code\", \"message\"[, \"data\"]}} as bytes.");

PyObject *wsp_rpc_error(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                        PyObject *kwnames)
{
    static const char *const names[] = {"code", "message", "data", NULL};
    PyObject *a[NARGS(names)];
    wsmod_state *st = wsp_state_of_module(module);
    if (wsp_parse_args("rpc_error", names, 3, 2, args, nargs, kwnames, a) < 0)
        return NULL;
    if (!PyLong_Check(a[0]) || PyBool_Check(a[0]))
        return PyErr_Format(PyExc_TypeError, "code must be an int");
    long long code = PyLong_AsLongLong(a[0]);
    if (code == -1 && PyErr_Occurred())
        return NULL;
    const char *message = wsp_as_str(a[1], "message");
    if (!message)
        return NULL;
    PyObject *json = NULL;
    if (a[2] && a[2] != Py_None && !(json = wsp_to_json(st, a[2])))
        return NULL;
    char *out = NULL;
    size_t len = 0;
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_rpc_error(&out, &len, code, message, json ? PyBytes_AS_STRING(json) : NULL,
                            &err);
    Py_XDECREF(json);
    return envelope_bytes(st, rc, &err, out, len);
}

const char wsp_rpc_parse_doc[] = PyDoc_STR(
"rpc_parse($module, /, body)\n--\n\n"
"Parse a Wallet Manager response body and return its result (decoded JSON).\n"
"An error object raises RpcError(code, message, data); anything else\n"
"ProtocolError.");

const char wsp_json_loads_doc[] = PyDoc_STR(
"_json_loads($module, data, /)\n--\n\n"
"JSON bytes -> Python, judged by the core first (Response.json()).");

/* Raw bytes (Response.json()): the core judges them first (UTF-8, one
 * value, no member named twice, RFC 8259 numbers: ProtocolError otherwise),
 * since Python's json module would take a duplicate's last value. Results of
 * the client and rpc_parse come judged already. */
PyObject *wsp_json_loads(PyObject *module, PyObject *data)
{
    wsmod_state *st = wsp_state_of_module(module);
    inbuf b;
    if (wsp_inbuf_get(&b, data, "data") < 0)
        return NULL;
    const char *text = b.ptr ? b.ptr : "";
    wsig_json_doc *doc = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    PyObject *res = NULL;
    if (wsig_json_parse(&doc, text, b.len, &err) != WSIG_OK)
        wsp_raise_status(st, WSIG_ERR_PROTOCOL, WSIG_REASON_NONE, err.message);
    else
        res = wsp_from_json(st, text, b.len);
    wsig_json_free(doc);
    wsp_inbuf_release(&b);
    return res;
}

PyObject *wsp_rpc_parse(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                        PyObject *kwnames)
{
    static const char *const names[] = {"body", NULL};
    PyObject *a[NARGS(names)];
    wsmod_state *st = wsp_state_of_module(module);
    if (wsp_parse_args("rpc_parse", names, 1, 1, args, nargs, kwnames, a) < 0)
        return NULL;
    inbuf body;
    if (a[0] == Py_None)
        return PyErr_Format(PyExc_TypeError, "body must be bytes or str, not None");
    if (wsp_inbuf_get(&body, a[0], "body") < 0)
        return NULL;
    char *out = NULL;
    wsig_error err = WSIG_ERROR_INIT;
    int rc = wsig_rpc_parse(&out, body.ptr ? body.ptr : "", body.len, &err);
    wsp_inbuf_release(&body);
    if (rc != WSIG_OK)
        return wsp_raise_wsig(st, rc, &err);
    wsig_error_clear(&err);
    PyObject *res = wsp_from_json(st, out, strlen(out));
    wsig_free(out);
    return res;
}
