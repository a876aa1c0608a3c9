/* walletsign._walletsign: the module itself (state, method table, exec
 * slot, definition). The shim's rules are in shim.h. */
#include "shim.h"

/* ------------------------------------------------------------------ */
/* Module state                                                       */

static struct PyModuleDef wsmod_def;

wsmod_state *wsp_state_of_module(PyObject *module)
{
    return (wsmod_state *)PyModule_GetState(module);
}

/* For methods: works for subclasses too (walks the MRO). */
wsmod_state *wsp_state_of_type(PyTypeObject *tp)
{
    PyObject *m = PyType_GetModuleByDef(tp, &wsmod_def);
    return m ? wsp_state_of_module(m) : NULL;
}

/* ------------------------------------------------------------------ */
/* Module                                                             */

static PyMethodDef wsmod_methods[] = {
    {"verify_jwt", (PyCFunction)(void (*)(void))wsp_verify_jwt, METH_FASTCALL | METH_KEYWORDS,
     wsp_verify_jwt_doc},
    {"rpc_result", (PyCFunction)(void (*)(void))wsp_rpc_result, METH_FASTCALL | METH_KEYWORDS,
     wsp_rpc_result_doc},
    {"rpc_error", (PyCFunction)(void (*)(void))wsp_rpc_error, METH_FASTCALL | METH_KEYWORDS,
     wsp_rpc_error_doc},
    {"rpc_parse", (PyCFunction)(void (*)(void))wsp_rpc_parse, METH_FASTCALL | METH_KEYWORDS,
     wsp_rpc_parse_doc},
    {"_json_loads", (PyCFunction)wsp_json_loads, METH_O, wsp_json_loads_doc},
    {NULL, NULL, 0, NULL},
};

static int add_type(PyObject *m, PyTypeObject **slot, PyType_Spec *spec, PyObject *base)
{
    *slot = (PyTypeObject *)PyType_FromModuleAndSpec(m, spec, base);
    if (!*slot)
        return -1;
    return PyModule_AddType(m, *slot);
}

static int import_attrs(PyObject *mod, const char *const *names, PyObject **const *slots)
{
    for (int i = 0; names[i]; i++) {
        *slots[i] = PyObject_GetAttrString(mod, names[i]);
        if (!*slots[i])
            return -1;
    }
    return 0;
}

static int wsmod_exec(PyObject *m)
{
    wsmod_state *st = wsp_state_of_module(m);

    PyObject *errors = PyImport_ImportModule("walletsign._errors");
    if (!errors)
        return -1;
    static const char *const error_names[] = {
        "Error", "KeyFormatError", "PasswordError", "CryptoError", "FileError",
        "SignatureError", "TransportError", "Timeout", "ProtocolError", "ApiError",
        "BadRequest", "Unauthorized", "Forbidden", "NotFound", "Gone",
        "PreconditionFailed", "RateLimited", "ServerError", "RpcError", "WeakKeyWarning",
        "Redirect", "StoreError", NULL};
    PyObject **const error_slots[] = {
        &st->Error, &st->KeyFormatError, &st->PasswordError, &st->CryptoError, &st->FileError,
        &st->SignatureError, &st->TransportError, &st->Timeout, &st->ProtocolError,
        &st->ApiError, &st->BadRequest, &st->Unauthorized, &st->Forbidden, &st->NotFound,
        &st->Gone, &st->PreconditionFailed, &st->RateLimited, &st->ServerError, &st->RpcError,
        &st->WeakKeyWarning, &st->Redirect, &st->StoreError};
    int rc = import_attrs(errors, error_names, error_slots);
    Py_DECREF(errors);
    if (rc < 0)
        return -1;

    PyObject *types = PyImport_ImportModule("walletsign._types");
    if (!types)
        return -1;
    static const char *const type_names[] = {"Message",         "Response", "dumps",     "loads",
                                             "client_from_env", "Verified", "scan_once", NULL};
    PyObject **const type_slots[] = {&st->Message,  &st->Response,        &st->json_dumps,
                                     &st->json_loads, &st->client_from_env, &st->Verified,
                                     &st->json_scan_once};
    rc = import_attrs(types, type_names, type_slots);
    Py_DECREF(types);
    if (rc < 0)
        return -1;

    PyObject *web = PyImport_ImportModule("walletsign._web");
    if (!web)
        return -1;
    static const char *const web_names[] = {"wsgi_headers", "asgi_headers", NULL};
    PyObject **const web_slots[] = {&st->wsgi_headers, &st->asgi_headers};
    rc = import_attrs(web, web_names, web_slots);
    Py_DECREF(web);
    if (rc < 0)
        return -1;

    if (add_type(m, &st->Key_Type, &wsp_Key_spec, NULL) < 0 ||
        add_type(m, &st->Auth_Type, &wsp_Auth_spec, NULL) < 0 ||
        add_type(m, &st->JwtAuth_Type, &wsp_JwtAuth_spec, (PyObject *)st->Auth_Type) < 0 ||
        add_type(m, &st->HmacAuth_Type, &wsp_HmacAuth_spec, (PyObject *)st->Auth_Type) < 0 ||
        add_type(m, &st->MessageAuth_Type, &wsp_MessageAuth_spec, (PyObject *)st->Auth_Type) < 0 ||
        add_type(m, &st->HmacVerifier_Type, &wsp_HmacVerifier_spec, NULL) < 0 ||
        add_type(m, &st->MessageVerifier_Type, &wsp_MessageVerifier_spec, NULL) < 0 ||
        add_type(m, &st->Client_Type, &wsp_Client_spec, NULL) < 0 ||
        add_type(m, &st->RedisRateLimit_Type, &wsp_RedisRateLimit_spec, NULL) < 0 ||
        add_type(m, &st->RedisReplayStore_Type, &wsp_RedisReplayStore_spec, NULL) < 0 ||
        add_type(m, &st->Pool_Type, &wsp_Pool_spec, NULL) < 0 ||
        add_type(m, &st->Job_Type, &wsp_Job_spec, NULL) < 0 ||
        add_type(m, &st->Completions_Type, &wsp_Completions_spec, NULL) < 0)
        return -1;
    if (PyModule_AddStringConstant(m, "__version__", wsig_version()) < 0 ||
        PyModule_AddStringConstant(m, "WSIG_VERSION", WSIG_VERSION) < 0 ||
        PyModule_AddStringConstant(m, "HALOGEN_BASE_URL", WSIG_HALOGEN_BASE_URL) < 0)
        return -1;
    return 0;
}

static int wsmod_traverse(PyObject *m, visitproc visit, void *arg)
{
    wsmod_state *st = wsp_state_of_module(m);
    if (!st)
        return 0;
    PyObject **objs = (PyObject **)st;
    for (size_t i = 0; i < sizeof *st / sizeof(PyObject *); i++)
        Py_VISIT(objs[i]);
    return 0;
}

static int wsmod_clear(PyObject *m)
{
    wsmod_state *st = wsp_state_of_module(m);
    if (!st)
        return 0;
    PyObject **objs = (PyObject **)st;
    for (size_t i = 0; i < sizeof *st / sizeof(PyObject *); i++)
        Py_CLEAR(objs[i]);
    return 0;
}

static void wsmod_free(void *m)
{
    wsmod_clear((PyObject *)m);
}

static PyModuleDef_Slot wsmod_slots[] = {
    {Py_mod_exec, wsmod_exec},
    {0, NULL},
};

PyDoc_STRVAR(wsmod_doc,
"Native core of walletsign: sign, send and verify wallet-API requests.\n"
"Use the walletsign package, which re-exports everything here.");

static struct PyModuleDef wsmod_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "walletsign._walletsign",
    .m_doc = wsmod_doc,
    .m_size = sizeof(wsmod_state),
    .m_methods = wsmod_methods,
    .m_slots = wsmod_slots,
    .m_traverse = wsmod_traverse,
    .m_clear = wsmod_clear,
    .m_free = wsmod_free,
};

PyMODINIT_FUNC PyInit__walletsign(void)
{
    return PyModuleDef_Init(&wsmod_def);
}
