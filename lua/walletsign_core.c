/*
 * walletsign.core: the Lua shim over the public C API (walletsign.h).
 *
 * It converts values and errors, nothing else: every protocol rule lives in
 * the C core. One source for Lua 5.4 and LuaJIT 2.1 (the 5.1 API), with small
 * LUA_VERSION_NUM guards.
 *
 * Memory rule: nothing here raises a Lua error while C heap memory is only
 * referenced from a C local. Everything the core hands back (strings, parsed
 * JSON, error bodies, responses) lands in a "scratch" userdata whose __gc
 * frees it, so even an out-of-memory error thrown by lua_pushlstring cannot
 * leak; the normal path frees the scratch explicitly before returning.
 *
 * Handles (Key, Auth, HmacVerifier, MessageVerifier, Client) are userdata
 * holding one core pointer. __gc, __close (5.4) and :close() share one closer
 * that frees and then NULLs the pointer. A Client needs nothing of the Lua
 * handles of its Auth and response verifier: the core client takes its own
 * references, so auth:close() or any GC order only drops the handle's own.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <strings.h>

#include <lauxlib.h>
#include <lua.h>
#include <walletsign.h>

/* ------------------------------------------------------------------ */
/* Lua 5.1 (LuaJIT) / 5.3 / 5.4 compatibility                         */

#if LUA_VERSION_NUM < 502
#define lua_rawlen(L, i) lua_objlen(L, (i))
static int compat_absindex(lua_State *L, int i)
{
    return (i > 0 || i <= LUA_REGISTRYINDEX) ? i : lua_gettop(L) + i + 1;
}
#define lua_absindex compat_absindex
static void *new_udata(lua_State *L, size_t size)
{
    return lua_newuserdata(L, size);
}
/* Pops a table and makes it the userdata's environment (its uservalue). */
static void set_refs(lua_State *L, int ud)
{
    lua_setfenv(L, ud);
}
#elif LUA_VERSION_NUM < 504
static void *new_udata(lua_State *L, size_t size)
{
    return lua_newuserdata(L, size);
}
static void set_refs(lua_State *L, int ud)
{
    lua_setuservalue(L, ud);
}
#else
static void *new_udata(lua_State *L, size_t size)
{
    return lua_newuserdatauv(L, size, 1);
}
static void set_refs(lua_State *L, int ud)
{
    lua_setiuservalue(L, ud, 1);
}
#endif

#define MAX_SAFE_INTEGER 9007199254740992.0 /* 2^53: doubles are exact below */

static const char *const ERROR_MT = "walletsign.Error";
static const char *const SCRATCH_MT = "walletsign.scratch";
static const char *const ARRAY_MT = "walletsign.array";
static const char *const RESPONSE_MT = "walletsign.Response";

/* ------------------------------------------------------------------ */
/* Integers: exact on 5.4; decimal strings above 2^53 on LuaJIT        */

/* Every 64-bit integer the module returns goes through here. The range is
 * checked on the integer: (double)v would round 2^53 + 1 down to 2^53 and
 * let it through as a wrong number. */
static void push_i64(lua_State *L, long long v)
{
#if LUA_VERSION_NUM >= 503
    lua_pushinteger(L, (lua_Integer)v);
#else
    const long long max_exact = 1LL << 53;
    if (v >= -max_exact && v <= max_exact) {
        lua_pushnumber(L, (lua_Number)v);
    } else {
        char buf[WSIG_DECIMAL_SIZE];
        snprintf(buf, sizeof buf, "%lld", v);
        lua_pushstring(L, buf);
    }
#endif
}

/* Strict decimal: optional '-' (if allowed), digits only, no overflow. */
static int parse_decimal(const char *s, size_t n, int allow_negative, unsigned long long *mag,
                         int *negative)
{
    size_t i = 0;
    *negative = 0;
    if (allow_negative && n > 0 && s[0] == '-') {
        *negative = 1;
        i = 1;
    }
    if (i == n)
        return 0;
    unsigned long long v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (~0ULL - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *mag = v;
    return 1;
}

/* An integer given as a Lua integer, an integral float, or a decimal string. */
static int to_i64(lua_State *L, int idx, long long *out)
{
    int t = lua_type(L, idx);
    if (t == LUA_TNUMBER) {
#if LUA_VERSION_NUM >= 503
        if (lua_isinteger(L, idx)) {
            *out = (long long)lua_tointeger(L, idx);
            return 1;
        }
#endif
        lua_Number d = lua_tonumber(L, idx);
        if (d != floor(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0)
            return 0;
        *out = (long long)d;
        return 1;
    }
    if (t == LUA_TSTRING) {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        unsigned long long mag;
        int neg;
        if (!parse_decimal(s, n, 1, &mag, &neg))
            return 0;
        if (neg ? mag > 9223372036854775808ULL : mag > 9223372036854775807ULL)
            return 0;
        *out = neg ? (long long)(0 - mag) : (long long)mag;
        return 1;
    }
    return 0;
}

static int to_u64(lua_State *L, int idx, unsigned long long *out)
{
    if (lua_type(L, idx) == LUA_TSTRING) {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        int neg;
        return parse_decimal(s, n, 0, out, &neg);
    }
    long long v;
    if (!to_i64(L, idx, &v) || v < 0)
        return 0;
    *out = (unsigned long long)v;
    return 1;
}

static long long check_i64(lua_State *L, int idx)
{
    long long v;
    if (!to_i64(L, idx, &v))
        luaL_argerror(L, idx, "integer (number or decimal string) expected");
    return v;
}

static unsigned long long check_u64(lua_State *L, int idx)
{
    unsigned long long v;
    if (!to_u64(L, idx, &v))
        luaL_argerror(L, idx, "unsigned 64-bit integer (number or decimal string) expected");
    return v;
}

/* The core takes C strings: an embedded NUL would silently cut what is
 * signed or checked, so it is refused. */
static const char *check_cstr(lua_State *L, int idx)
{
    size_t n;
    const char *s = luaL_checklstring(L, idx, &n);
    if (strlen(s) != n)
        luaL_argerror(L, idx, "string must not contain NUL bytes");
    return s;
}

static const char *opt_cstr(lua_State *L, int idx)
{
    return lua_isnoneornil(L, idx) ? NULL : check_cstr(L, idx);
}

/* ------------------------------------------------------------------ */
/* Option tables: plain tables read with raw access, so every string  */
/* stays anchored by the table after its stack slot is popped.         */

static int get_field(lua_State *L, int t, const char *name)
{
    lua_pushstring(L, name);
    lua_rawget(L, t);
    return lua_type(L, -1);
}

static int field_error(lua_State *L, const char *name, const char *expected)
{
    return luaL_error(L, "bad option '%s' (%s expected, got %s)", name, expected,
                      luaL_typename(L, -1));
}

/* Options argument at idx: a table or nothing. Returns its absolute index or 0. */
static int opt_table(lua_State *L, int idx)
{
    if (lua_isnoneornil(L, idx))
        return 0;
    luaL_checktype(L, idx, LUA_TTABLE);
    return lua_absindex(L, idx);
}

static const char *opt_string(lua_State *L, int t, const char *name, const char *def, size_t *len)
{
    size_t n = def ? strlen(def) : 0;
    const char *s = def;
    if (t) {
        int ty = get_field(L, t, name);
        if (ty == LUA_TSTRING) {
            s = lua_tolstring(L, -1, &n);
            if (!len && strlen(s) != n)
                luaL_error(L, "bad option '%s' (string must not contain NUL bytes)", name);
        } else if (ty != LUA_TNIL) {
            field_error(L, name, "string");
        }
        lua_pop(L, 1);
    }
    if (len)
        *len = n;
    return s;
}

static lua_Number opt_number(lua_State *L, int t, const char *name, lua_Number def)
{
    lua_Number v = def;
    if (t) {
        int ty = get_field(L, t, name);
        if (ty == LUA_TNUMBER)
            v = lua_tonumber(L, -1);
        else if (ty != LUA_TNIL)
            field_error(L, name, "number");
        lua_pop(L, 1);
    }
    return v;
}

static long long opt_i64(lua_State *L, int t, const char *name, long long def)
{
    long long v = def;
    if (t) {
        int ty = get_field(L, t, name);
        if (ty != LUA_TNIL && !to_i64(L, -1, &v))
            field_error(L, name, "integer");
        lua_pop(L, 1);
    }
    return v;
}

static int opt_bool(lua_State *L, int t, const char *name, int def)
{
    int v = def;
    if (t) {
        int ty = get_field(L, t, name);
        if (ty == LUA_TBOOLEAN)
            v = lua_toboolean(L, -1);
        else if (ty != LUA_TNIL)
            field_error(L, name, "boolean");
        lua_pop(L, 1);
    }
    return v;
}

/* An option given by name, through the core's table (wsig_option_value). */
static int opt_option(lua_State *L, int t, const char *name, int option, int def)
{
    const char *s = opt_string(L, t, name, NULL, NULL);
    int value;
    wsig_error e = WSIG_ERROR_INIT; /* owns nothing here: raising is safe */
    if (!s)
        return def;
    if (wsig_option_value(option, s, &value, &e) != WSIG_OK)
        return luaL_error(L, "bad option '%s' (%s)", name, e.message);
    return value;
}

/* A number for an int field: out-of-range values stay out of range (the
 * core checks ranges and answers argument_error). */
static int int_field(long long v)
{
    return v < INT_MIN ? INT_MIN : v > INT_MAX ? INT_MAX : (int)v;
}

/* A count for a size_t field; a negative one becomes too large to take. */
static size_t size_field(long long v)
{
    return v < 0 ? SIZE_MAX : (size_t)v;
}

/* ------------------------------------------------------------------ */
/* Scratch: C heap memory owned by a Lua userdata until released       */

typedef struct scratch {
    char *str;        /* a string the core returned */
    size_t str_len;
    int str_secret;   /* wipe it on release (private keys) */
    wsig_json_writer *writer; /* JSON text being encoded ... */
    const char *json; /* ... and, once finished, its text (the writer's) */
    size_t json_len;
    wsig_json_doc *doc; /* a parsed JSON document */
    wsig_error err;   /* may own a response body and RPC data */
    wsig_response res;
    int has_res;
    char why[160];    /* why a Lua value has no JSON form */
} scratch;

static void scratch_release(scratch *s)
{
    if (s->str) {
        if (s->str_secret)
            wsig_free_secret(s->str, s->str_len);
        else
            wsig_free(s->str);
        s->str = NULL;
    }
    wsig_json_writer_free(s->writer);
    s->writer = NULL;
    s->json = NULL;
    s->json_len = 0;
    wsig_json_free(s->doc);
    s->doc = NULL;
    wsig_error_clear(&s->err);
    if (s->has_res) {
        wsig_response_clear(&s->res);
        s->has_res = 0;
    }
}

static int scratch_gc(lua_State *L)
{
    scratch_release((scratch *)lua_touserdata(L, 1));
    return 0;
}

static scratch *new_scratch(lua_State *L)
{
    scratch *s = (scratch *)lua_newuserdata(L, sizeof *s);
    memset(s, 0, sizeof *s);
    wsig_error_clear(&s->err);
    luaL_getmetatable(L, SCRATCH_MT);
    lua_setmetatable(L, -2);
    return s;
}

/* ------------------------------------------------------------------ */
/* JSON text -> Lua values (the core parses; this only converts)       */
/* null -> walletsign.null (a NULL light userdata); arrays get the     */
/* walletsign.array metatable so they encode back as arrays.           */

static int size_hint(size_t n)
{
    return n > 1000000 ? 1000000 : (int)n;
}

/* Integers exactly: as push_i64 within int64, beyond it as their decimal
 * text. Other numbers as doubles; on 5.4 an integral one up to 2^53 (1.0,
 * 1e3) is an integer, as it always was. */
static void push_json_number(lua_State *L, const wsig_json_value *v)
{
    int64_t i;
    size_t n;
    int kind = wsig_json_number_int64(v, &i);
    if (kind == 1) {
        push_i64(L, (long long)i);
    } else if (kind < 0) {
        const char *text = wsig_json_number_text(v, &n);
        lua_pushlstring(L, text, n);
    } else {
        double d = wsig_json_number_double(v);
#if LUA_VERSION_NUM >= 503
        if (d == floor(d) && fabs(d) <= MAX_SAFE_INTEGER)
            lua_pushinteger(L, (lua_Integer)d);
        else
#endif
            lua_pushnumber(L, (lua_Number)d);
    }
}

static void push_json_value(lua_State *L, const wsig_json_value *v)
{
    luaL_checkstack(L, 4, "JSON nested too deeply");
    size_t n;
    const char *p;
    int i = 1;
    switch (wsig_json_type(v)) {
    case WSIG_JSON_FALSE:
    case WSIG_JSON_TRUE:
        lua_pushboolean(L, wsig_json_type(v) == WSIG_JSON_TRUE);
        break;
    case WSIG_JSON_NUMBER:
        push_json_number(L, v);
        break;
    case WSIG_JSON_STRING:
        p = wsig_json_string(v, &n);
        lua_pushlstring(L, p, n);
        break;
    case WSIG_JSON_ARRAY:
        lua_createtable(L, size_hint(wsig_json_count(v)), 0);
        for (const wsig_json_value *c = wsig_json_first(v); c; c = wsig_json_next(c)) {
            push_json_value(L, c);
            lua_rawseti(L, -2, i++);
        }
        luaL_getmetatable(L, ARRAY_MT);
        lua_setmetatable(L, -2);
        break;
    case WSIG_JSON_OBJECT:
        lua_createtable(L, 0, size_hint(wsig_json_count(v)));
        for (const wsig_json_value *c = wsig_json_first(v); c; c = wsig_json_next(c)) {
            p = wsig_json_key(c, &n);
            lua_pushlstring(L, p, n);
            push_json_value(L, c);
            lua_rawset(L, -3);
        }
        break;
    default:
        lua_pushlightuserdata(L, NULL);
    }
}

/* Push the Lua value of JSON text; returns 0 (nothing pushed; the core's
 * reason in *e, which may be NULL) if the core refuses the text. */
static int push_json_text(lua_State *L, const char *text, size_t len, wsig_error *e)
{
    scratch *s = new_scratch(L);
    if (wsig_json_parse(&s->doc, text, len, e) != WSIG_OK) {
        lua_pop(L, 1);
        return 0;
    }
    push_json_value(L, wsig_json_root(s->doc));
    scratch_release(s);
    lua_remove(L, -2);
    return 1;
}

/* ------------------------------------------------------------------ */
/* Lua values -> JSON text, through the core's writer                  */
/* Tables: an empty table is {} (an object); a table whose keys are    */
/* exactly 1..n is an array; a table with the walletsign.array         */
/* metatable is always an array (so ws.array() gives []); any other    */
/* table needs string keys. walletsign.null is null. 5.4 integers are  */
/* written exactly, other numbers as the core writes doubles. Escaping, */
/* UTF-8 and nesting depth (which also ends a cycle) are the core's.   */

static int jw_ok(int rc)
{
    return rc == WSIG_OK;
}

static int jw_number(lua_State *L, scratch *s, int idx)
{
#if LUA_VERSION_NUM >= 503
    if (lua_isinteger(L, idx))
        return jw_ok(wsig_json_write_int64(s->writer, (int64_t)lua_tointeger(L, idx), &s->err));
#endif
    return jw_ok(wsig_json_write_double(s->writer, (double)lua_tonumber(L, idx), &s->err));
}

static int jw_value(lua_State *L, scratch *s, int idx);

static int is_array_mt(lua_State *L, int idx)
{
    if (!lua_getmetatable(L, idx))
        return 0;
    luaL_getmetatable(L, ARRAY_MT);
    int yes = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return yes;
}

/* How a table without the array metatable is written: returns its length
 * n (> 0) for a sequence 1..n, 0 for an object; -1 (why set) otherwise. */
static long long table_shape(lua_State *L, scratch *s, int idx)
{
    size_t count = 0;
    double max = 0;
    int all_index = 1, all_string = 1;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        count++;
        if (lua_type(L, -2) == LUA_TSTRING) {
            all_index = 0;
        } else {
            all_string = 0;
            double k = lua_type(L, -2) == LUA_TNUMBER ? (double)lua_tonumber(L, -2) : 0;
            if (k >= 1 && k == floor(k) && k <= MAX_SAFE_INTEGER) {
                if (k > max)
                    max = k;
            } else {
                all_index = 0;
            }
        }
        lua_pop(L, 1);
    }
    if (count > 0 && all_index && max == (double)count)
        return (long long)count;
    if (count == 0 || all_string)
        return 0;
    snprintf(s->why, sizeof s->why,
             "cannot encode a table with non-string keys that is not a sequence 1..n");
    return -1;
}

static int jw_array(lua_State *L, scratch *s, int idx, size_t n)
{
    if (!jw_ok(wsig_json_write_begin_array(s->writer, &s->err)))
        return 0;
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, (int)i);
        int ok = jw_value(L, s, lua_gettop(L));
        lua_pop(L, 1);
        if (!ok)
            return 0;
    }
    return jw_ok(wsig_json_write_end_array(s->writer, &s->err));
}

static int jw_object(lua_State *L, scratch *s, int idx)
{
    if (!jw_ok(wsig_json_write_begin_object(s->writer, &s->err)))
        return 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        size_t kl;
        const char *k = lua_tolstring(L, -2, &kl); /* a string key: no conversion */
        int ok = jw_ok(wsig_json_write_key(s->writer, k, kl, &s->err)) &&
                 jw_value(L, s, lua_gettop(L));
        lua_pop(L, 1);
        if (!ok) {
            lua_pop(L, 1);
            return 0;
        }
    }
    return jw_ok(wsig_json_write_end_object(s->writer, &s->err));
}

static int jw_table(lua_State *L, scratch *s, int idx)
{
    luaL_checkstack(L, 4, "JSON nested too deeply");
    if (is_array_mt(L, idx))
        return jw_array(L, s, idx, lua_rawlen(L, idx));
    long long n = table_shape(L, s, idx);
    if (n < 0)
        return 0;
    return n > 0 ? jw_array(L, s, idx, (size_t)n) : jw_object(L, s, idx);
}

static int jw_value(lua_State *L, scratch *s, int idx)
{
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        return jw_ok(wsig_json_write_null(s->writer, &s->err));
    case LUA_TBOOLEAN:
        return jw_ok(wsig_json_write_bool(s->writer, lua_toboolean(L, idx), &s->err));
    case LUA_TNUMBER:
        return jw_number(L, s, idx);
    case LUA_TSTRING: {
        size_t n;
        const char *p = lua_tolstring(L, idx, &n);
        return jw_ok(wsig_json_write_string(s->writer, p, n, &s->err));
    }
    case LUA_TTABLE:
        return jw_table(L, s, idx);
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == NULL)
            return jw_ok(wsig_json_write_null(s->writer, &s->err));
        /* fall through */
    default:
        snprintf(s->why, sizeof s->why, "cannot encode a %s as JSON", luaL_typename(L, idx));
        return 0;
    }
}

/* Encode the value at idx into a new scratch (left on the stack; the text
 * in s->json). A value that has no JSON form is a caller's mistake: raise,
 * after freeing. */
static scratch *encode_arg(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    scratch *s = new_scratch(L);
    if (!jw_ok(wsig_json_writer_new(&s->writer, &s->err)) || !jw_value(L, s, idx) ||
        !jw_ok(wsig_json_writer_text(s->writer, &s->json, &s->json_len, &s->err))) {
        char why[sizeof s->err.message];
        snprintf(why, sizeof why, "%s", s->why[0] ? s->why : s->err.message);
        scratch_release(s);
        luaL_error(L, "%s", why);
    }
    return s;
}

/* JSON text for an optional payload argument: nil -> NULL, a string is
 * taken as JSON text already, anything else is encoded into *enc (anchored
 * in the argument's stack slot; release it after use). */
static const char *payload_arg(lua_State *L, int idx, scratch **enc)
{
    *enc = NULL;
    if (lua_isnoneornil(L, idx))
        return NULL;
    if (lua_type(L, idx) == LUA_TSTRING) {
        size_t len;
        const char *p = lua_tolstring(L, idx, &len);
        if (strlen(p) != len)
            luaL_argerror(L, idx, "JSON text must not contain NUL bytes");
        return p;
    }
    *enc = encode_arg(L, idx);
    lua_replace(L, idx);
    return (*enc)->json;
}

static void release_payload(scratch *enc)
{
    if (enc)
        scratch_release(enc);
}

/* ------------------------------------------------------------------ */
/* Errors: nil, {kind=, reason=, status=, code=, message=, data=, ...} */

static void set_str(lua_State *L, const char *k, const char *v)
{
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
}

static int push_error(lua_State *L, const wsig_error *e)
{
    /* The fields of a failure, under the names every surface uses
     * (docs/errors.md); which apply is the core's rule. */
    unsigned f = wsig_error_fields(e);
    lua_pushnil(L);
    lua_createtable(L, 0, 12);
    set_str(L, "kind", wsig_status_name(e->status));
    set_str(L, "message", e->message);
    if (f & WSIG_FIELD_REASON)
        set_str(L, "reason", wsig_reason_name(e->reason));
    if (f & WSIG_FIELD_HTTP_STATUS) {
        push_i64(L, e->http_status);
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, "http_status");
        lua_setfield(L, -2, "status"); /* deprecated alias of http_status */
    }
    if (f & WSIG_FIELD_CODE)
        set_str(L, "code", e->code);
    if (f & WSIG_FIELD_RPC_CODE) {
        push_i64(L, e->rpc_code);
        lua_setfield(L, -2, "rpc_code");
    }
    if (f & WSIG_FIELD_DATA) {
        size_t n = strlen(e->data_json);
        if (!push_json_text(L, e->data_json, n, NULL))
            lua_pushlstring(L, e->data_json, n);
        lua_setfield(L, -2, "data");
    }
    if (f & WSIG_FIELD_BODY) {
        lua_pushlstring(L, e->body, e->body_len);
        lua_setfield(L, -2, "body");
    }
    if (f & WSIG_FIELD_CURL_CODE) {
        lua_pushinteger(L, e->curl_code);
        lua_setfield(L, -2, "curl_code");
    }
    if (f & WSIG_FIELD_RETRY_AFTER) {
        lua_pushnumber(L, e->retry_after);
        lua_setfield(L, -2, "retry_after");
    }
    if (f & WSIG_FIELD_LOCATION) {
        lua_pushstring(L, e->location);
        lua_setfield(L, -2, "location");
    }
    luaL_getmetatable(L, ERROR_MT);
    lua_setmetatable(L, -2);
    return 2;
}

/* Push the error, then free what the scratch owns; returns 2 (nil, err). */
static int scratch_error(lua_State *L, scratch *s)
{
    push_error(L, &s->err);
    scratch_release(s);
    return 2;
}

/* "walletsign invalid (bad_signature): signature does not recover ..." */
static int error_tostring(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int base = lua_gettop(L);
    lua_pushliteral(L, "walletsign ");
    lua_getfield(L, 1, "kind");
    if (!lua_isstring(L, -1)) {
        lua_pop(L, 1);
        lua_pushliteral(L, "error");
    }
    lua_getfield(L, 1, "reason");
    if (lua_isstring(L, -1)) {
        lua_pushliteral(L, " (");
        lua_insert(L, -2);
        lua_pushliteral(L, ")");
    } else {
        lua_pop(L, 1);
    }
    lua_getfield(L, 1, "http_status");
    if (lua_isnumber(L, -1)) {
        lua_pushfstring(L, " HTTP %s", lua_tostring(L, -1));
        lua_remove(L, -2);
    } else {
        lua_pop(L, 1);
    }
    lua_getfield(L, 1, "code");
    if (lua_isstring(L, -1)) {
        lua_pushfstring(L, " [%s]", lua_tostring(L, -1));
        lua_remove(L, -2);
    } else {
        lua_pop(L, 1);
    }
    lua_pushliteral(L, ": ");
    lua_getfield(L, 1, "message");
    if (!lua_isstring(L, -1)) {
        lua_pop(L, 1);
        lua_pushliteral(L, "");
    }
    lua_concat(L, lua_gettop(L) - base);
    return 1;
}

/* ------------------------------------------------------------------ */
/* Handles                                                             */

enum { T_KEY, T_AUTH, T_HMACV, T_MSGV, T_CLIENT, T_RATE, T_STORE, T_CALL, T_COUNT };

static const char *const TYPE_NAMES[T_COUNT] = {
    "walletsign.Key", "walletsign.Auth", "walletsign.HmacVerifier",
    "walletsign.MessageVerifier", "walletsign.Client", "walletsign.RateLimit",
    "walletsign.ReplayStore", "walletsign.Call",
};

typedef struct handle {
    void *p;
    int type;
    int closed;
    int replay_cache;
    int replay_store; /* a message verifier with a (blocking) Redis replay store */
    int call_kind;    /* T_CALL: CALL_JSON or CALL_RESPONSE, what result() gives */
} handle;

/* Free what the handle holds, once. A client holds its own core references
 * on its auth and verifier, so freeing either handle never leaves a client
 * with a dangling pointer: the core frees on its last reference. */
static void free_handle(handle *h)
{
    void *p = h->p;
    h->closed = 1;
    h->p = NULL;
    switch (h->type) {
    case T_KEY: wsig_key_free((wsig_key *)p); break;
    case T_AUTH: wsig_auth_free((wsig_auth *)p); break;
    case T_HMACV: wsig_hmac_verifier_free((wsig_hmac_verifier *)p); break;
    case T_MSGV: wsig_message_verifier_free((wsig_message_verifier *)p); break;
    case T_CLIENT: wsig_client_free((wsig_client *)p); break;
    case T_RATE: wsig_rate_limit_free((wsig_rate_limit *)p); break;
    case T_STORE: wsig_replay_store_free((wsig_replay_store *)p); break;
    case T_CALL: wsig_call_free((wsig_call *)p); break;
    }
}

/* __gc, __close and :close() (upvalue 1: the type). Idempotent. */
static int handle_close(lua_State *L)
{
    int type = (int)lua_tointeger(L, lua_upvalueindex(1));
    free_handle((handle *)luaL_checkudata(L, 1, TYPE_NAMES[type]));
    return 0;
}

static handle *new_handle(lua_State *L, int type)
{
    handle *h = (handle *)new_udata(L, sizeof *h);
    memset(h, 0, sizeof *h);
    h->type = type;
    luaL_getmetatable(L, TYPE_NAMES[type]);
    lua_setmetatable(L, -2);
    return h;
}

static handle *check_handle(lua_State *L, int idx, int type)
{
    handle *h = (handle *)luaL_checkudata(L, idx, TYPE_NAMES[type]);
    if (h->closed || !h->p)
        luaL_error(L, "attempt to use a closed %s", TYPE_NAMES[type]);
    return h;
}

#define CHECK(L, idx, type, ctype) ((ctype *)check_handle((L), (idx), (type))->p)

/* A handle stored in an option field (left on the stack). */
static handle *field_handle(lua_State *L, int t, const char *name, int type, int required)
{
    int ty = t ? get_field(L, t, name) : (lua_pushnil(L), LUA_TNIL);
    if (ty == LUA_TNIL && !required)
        return NULL;
    handle *h = (handle *)luaL_testudata(L, -1, TYPE_NAMES[type]);
    if (!h)
        field_error(L, name, TYPE_NAMES[type]);
    if (h->closed || !h->p)
        luaL_error(L, "bad option '%s' (a closed %s)", name, TYPE_NAMES[type]);
    return h;
}

static int handle_tostring(lua_State *L)
{
    int type = (int)lua_tointeger(L, lua_upvalueindex(1));
    handle *h = (handle *)luaL_checkudata(L, 1, TYPE_NAMES[type]);
    if (h->closed || !h->p) {
        lua_pushfstring(L, "%s (closed): %p", TYPE_NAMES[type], (void *)h);
    } else if (type == T_KEY) {
        const wsig_key *k = (const wsig_key *)h->p;
        lua_pushfstring(L, "%s (%s, %d bits, %s): %p", TYPE_NAMES[type], wsig_key_algorithm(k),
                        wsig_key_bits(k), wsig_key_is_private(k) ? "private" : "public",
                        (void *)h);
    } else if (type == T_AUTH) {
        static const char *const kinds[] = {"?", "jwt", "hmac", "message"};
        int kind = wsig_auth_kind_of((const wsig_auth *)h->p);
        lua_pushfstring(L, "%s (%s): %p", TYPE_NAMES[type], kinds[kind >= 1 && kind <= 3 ? kind : 0],
                        (void *)h);
    } else {
        lua_pushfstring(L, "%s: %p", TYPE_NAMES[type], (void *)h);
    }
    return 1;
}

/* ------------------------------------------------------------------ */
/* Keys                                                                */

/* The new Key is on top of the stack: return it, or nil, err (its empty
 * handle is left to the GC). */
static int key_result(lua_State *L, int rc, wsig_error *e)
{
    return rc != WSIG_OK ? push_error(L, e) : 1;
}

static int l_key_generate(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    int kind, bits = 0;
    wsig_error e0 = WSIG_ERROR_INIT; /* owns nothing: raising is safe */
    /* "RSA-<bits>" spells (RSA, bits); the names and the bits' range are the core's. */
    if (strncasecmp(name, "RSA-", 4) == 0) {
        unsigned long long b;
        int neg;
        if (!parse_decimal(name + 4, strlen(name + 4), 0, &b, &neg) || b > 65536)
            return luaL_argerror(L, 1, "\"P-256\", \"RSA-4096\" or \"secp256k1\" expected");
        kind = WSIG_KEY_RSA;
        bits = (int)b;
    } else if (wsig_option_value(WSIG_OPTION_KEY_KIND, name, &kind, &e0) != WSIG_OK) {
        return luaL_argerror(L, 1, e0.message);
    }
    handle *h = new_handle(L, T_KEY);
    wsig_error e = WSIG_ERROR_INIT;
    int rc = wsig_key_generate((wsig_key **)&h->p, kind, bits, &e);
    return key_result(L, rc, &e);
}

static int l_key_load_pem(lua_State *L)
{
    size_t n;
    const char *pem = luaL_checklstring(L, 1, &n);
    const char *password = opt_cstr(L, 2);
    handle *h = new_handle(L, T_KEY);
    wsig_error e = WSIG_ERROR_INIT;
    int rc = wsig_key_load_pem((wsig_key **)&h->p, pem, n, password, &e);
    return key_result(L, rc, &e);
}

static int l_key_load_der(lua_State *L)
{
    size_t n;
    const char *der = luaL_checklstring(L, 1, &n);
    const char *password = opt_cstr(L, 2);
    handle *h = new_handle(L, T_KEY);
    wsig_error e = WSIG_ERROR_INIT;
    int rc = wsig_key_load_der((wsig_key **)&h->p, (const unsigned char *)der, n, password, &e);
    return key_result(L, rc, &e);
}

static int l_key_load_file(lua_State *L)
{
    const char *path = check_cstr(L, 1);
    const char *password = opt_cstr(L, 2);
    handle *h = new_handle(L, T_KEY);
    wsig_error e = WSIG_ERROR_INIT;
    int rc = wsig_key_load_file((wsig_key **)&h->p, path, password, &e);
    return key_result(L, rc, &e);
}

/* key.load(pem_or_der_or_path [, password]): a Lua string is key text or a
 * path; the core tells which (wsig_key_load_source). */
static int l_key_load(lua_State *L)
{
    size_t n;
    const char *source = luaL_checklstring(L, 1, &n);
    const char *password = opt_cstr(L, 2);
    handle *h = new_handle(L, T_KEY);
    wsig_error e = WSIG_ERROR_INIT;
    int rc = wsig_key_load_source((wsig_key **)&h->p, source, n, password, &e);
    return key_result(L, rc, &e);
}

/* key.load_data(bytes [, password]): key bytes of any form (PEM, DER, 64 hex
 * digits), detected by the core (wsig_key_load). */
static int l_key_load_data(lua_State *L)
{
    size_t n;
    const char *data = luaL_checklstring(L, 1, &n);
    const char *password = opt_cstr(L, 2);
    handle *h = new_handle(L, T_KEY);
    wsig_error e = WSIG_ERROR_INIT;
    int rc = wsig_key_load((wsig_key **)&h->p, data, n, password, &e);
    return key_result(L, rc, &e);
}

static int l_key_from_hex(lua_State *L)
{
    const char *hex = check_cstr(L, 1);
    handle *h = new_handle(L, T_KEY);
    wsig_error e = WSIG_ERROR_INIT;
    int rc = wsig_key_from_hex((wsig_key **)&h->p, hex, &e);
    return key_result(L, rc, &e);
}

static int l_key_kind(lua_State *L)
{
    const wsig_key *k = CHECK(L, 1, T_KEY, const wsig_key);
    const char *name = wsig_option_name(WSIG_OPTION_KEY_KIND, wsig_key_kind_of(k));
    lua_pushstring(L, name ? name : "unknown");
    return 1;
}

static int l_key_bits(lua_State *L)
{
    lua_pushinteger(L, wsig_key_bits(CHECK(L, 1, T_KEY, const wsig_key)));
    return 1;
}

static int l_key_is_private(lua_State *L)
{
    lua_pushboolean(L, wsig_key_is_private(CHECK(L, 1, T_KEY, const wsig_key)));
    return 1;
}

static int l_key_algorithm(lua_State *L)
{
    lua_pushstring(L, wsig_key_algorithm(CHECK(L, 1, T_KEY, const wsig_key)));
    return 1;
}

static int l_key_address(lua_State *L)
{
    const wsig_key *k = CHECK(L, 1, T_KEY, const wsig_key);
    char out[WSIG_ADDRESS_SIZE];
    wsig_error e = WSIG_ERROR_INIT;
    if (wsig_key_address(k, out, &e) != WSIG_OK)
        return push_error(L, &e);
    lua_pushstring(L, out);
    return 1;
}

/* The core's string in s->str: push it (or nil, err) and free it. */
static int scratch_string(lua_State *L, scratch *s, int rc)
{
    if (rc != WSIG_OK)
        return scratch_error(L, s);
    lua_pushlstring(L, s->str, s->str_len ? s->str_len : strlen(s->str));
    scratch_release(s);
    return 1;
}

static int l_key_public_pem(lua_State *L)
{
    const wsig_key *k = CHECK(L, 1, T_KEY, const wsig_key);
    scratch *s = new_scratch(L);
    int rc = wsig_key_public_pem(k, &s->str, &s->str_len, &s->err);
    return scratch_string(L, s, rc);
}

static int l_key_private_pem(lua_State *L)
{
    const wsig_key *k = CHECK(L, 1, T_KEY, const wsig_key);
    const char *password = opt_cstr(L, 2);
    scratch *s = new_scratch(L);
    s->str_secret = 1;
    int rc = wsig_key_private_pem(k, &s->str, &s->str_len, password, &s->err);
    return scratch_string(L, s, rc);
}

static int l_key_csr(lua_State *L)
{
    const wsig_key *k = CHECK(L, 1, T_KEY, const wsig_key);
    const char *subject = check_cstr(L, 2);
    scratch *s = new_scratch(L);
    int rc = wsig_key_csr(k, &s->str, &s->str_len, subject, &s->err);
    return scratch_string(L, s, rc);
}

static int l_key_save(lua_State *L)
{
    const wsig_key *k = CHECK(L, 1, T_KEY, const wsig_key);
    const char *path = check_cstr(L, 2);
    const char *password = opt_cstr(L, 3);
    wsig_error e = WSIG_ERROR_INIT;
    if (wsig_key_save(k, path, password, &e) != WSIG_OK)
        return push_error(L, &e);
    lua_pushboolean(L, 1);
    return 1;
}

/* ------------------------------------------------------------------ */
/* Auth: jwt, hmac, message                                            */

/* auth handle at -2, key handle at -1 (or nil): remember the key in the
 * auth's uservalue, pops the key. */
static void keep_ref(lua_State *L, int ud, const char *name)
{
    lua_createtable(L, 0, 2);
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, name);
    set_refs(L, ud);
    lua_pop(L, 1);
}

/* Return the new auth (at stack index ud) and, if the core warned, the warning. */
static int auth_result(lua_State *L, int ud, int rc, wsig_error *e)
{
    if (rc != WSIG_OK)
        return push_error(L, e);
    lua_pushvalue(L, ud);
    if (e->warning[0]) {
        lua_pushstring(L, e->warning);
        return 2;
    }
    return 1;
}

static int l_jwt_auth(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    const char *key_id = opt_string(L, 1, "key_id", NULL, NULL);
    if (!key_id)
        return luaL_error(L, "bad option 'key_id' (string expected, got nil)");
    wsig_jwt_options opt;
    memset(&opt, 0, sizeof opt);
    opt.ttl_seconds = int_field(opt_i64(L, 1, "ttl", 0)); /* 0: the core's default */
    opt.signature_format = opt_option(L, 1, "signature_format", WSIG_OPTION_JWT_FORMAT, WSIG_JWT_DER);
    handle *h = new_handle(L, T_AUTH);
    int ud = lua_gettop(L);
    handle *k = field_handle(L, 1, "key", T_KEY, 1);
    keep_ref(L, ud, "key");
    wsig_error e = WSIG_ERROR_INIT;
    int rc = wsig_auth_jwt_new((wsig_auth **)&h->p, (const wsig_key *)k->p, key_id, &opt, &e);
    return auth_result(L, ud, rc, &e);
}

static int read_hmac_options(lua_State *L, int t, wsig_hmac_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->encoding = opt_option(L, t, "encoding", WSIG_OPTION_HMAC_ENCODING, WSIG_HMAC_BASE64);
    opt->separator = opt_string(L, t, "separator", NULL, NULL);
    opt->api_key_header = opt_string(L, t, "api_key_header", NULL, NULL);
    opt->signature_header = opt_string(L, t, "signature_header", NULL, NULL);
    opt->timestamp_header = opt_string(L, t, "timestamp_header", NULL, NULL);
    return 0;
}

static int l_hmac_auth(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    const char *api_key = opt_string(L, 1, "api_key", NULL, NULL);
    size_t secret_len;
    const char *secret = opt_string(L, 1, "secret", NULL, &secret_len);
    if (!api_key)
        return luaL_error(L, "bad option 'api_key' (string expected, got nil)");
    if (!secret)
        return luaL_error(L, "bad option 'secret' (string expected, got nil)");
    wsig_hmac_options opt;
    read_hmac_options(L, 1, &opt);
    handle *h = new_handle(L, T_AUTH);
    int ud = lua_gettop(L);
    wsig_error e = WSIG_ERROR_INIT;
    int rc = wsig_auth_hmac_new((wsig_auth **)&h->p, api_key, secret, secret_len, &opt, &e);
    return auth_result(L, ud, rc, &e);
}

static int l_message_auth(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    wsig_message_options opt = WSIG_MESSAGE_OPTIONS_INIT;
    opt.encoding = opt_option(L, 1, "encoding", WSIG_OPTION_MESSAGE_ENCODING, WSIG_MESSAGE_RSV);
    opt.digest = opt_option(L, 1, "digest", WSIG_OPTION_DIGEST, WSIG_DIGEST_SHA256);
    opt.v_offset = int_field(opt_i64(L, 1, "v_offset", 27)); /* the core checks: 0 or 27 */
    opt.empty_body = opt_option(L, 1, "empty_body", WSIG_OPTION_EMPTY_BODY, WSIG_EMPTY_OMIT);
    opt.no_prefix = !opt_bool(L, 1, "prefix", 1);
    handle *h = new_handle(L, T_AUTH);
    int ud = lua_gettop(L);
    handle *k = field_handle(L, 1, "key", T_KEY, 1);
    keep_ref(L, ud, "key");
    wsig_error e = WSIG_ERROR_INIT;
    int rc = wsig_auth_message_new((wsig_auth **)&h->p, (const wsig_key *)k->p, &opt, &e);
    return auth_result(L, ud, rc, &e);
}

static void push_headers(lua_State *L, const wsig_headers *h)
{
    lua_createtable(L, 0, (int)h->count);
    /* lua_pushstring, not lua_pushlstring: Lua 5.4 looks a C string up in
     * its API string cache by address first, and these buffers sit at the
     * same address on every call (callgrind: ~1,000 fewer Ir per HMAC). */
    for (size_t i = 0; i < h->count; i++) {
        lua_pushstring(L, h->h[i].name);
        lua_pushstring(L, h->h[i].value);
        lua_rawset(L, -3);
    }
}

/* auth:sign(method, path [, body [, {timestamp=ms}]]) -> headers | nil, err */
static int l_auth_sign(lua_State *L)
{
    wsig_auth *a = CHECK(L, 1, T_AUTH, wsig_auth);
    const char *method = check_cstr(L, 2);
    const char *path = check_cstr(L, 3);
    size_t body_len = 0;
    const char *body = luaL_optlstring(L, 4, NULL, &body_len);
    long long ts = opt_i64(L, opt_table(L, 5), "timestamp", 0);
    wsig_headers h;
    wsig_error e;
    WSIG_ERROR_PREPARE(&e);
    if (wsig_auth_sign(a, &h, method, path, body, body ? body_len : 0, ts, &e) != WSIG_OK)
        return push_error(L, &e);
    push_headers(L, &h);
    return 1;
}

/* auth:token(uri [, body [, {now=seconds}]]) -> token (jwt only) */
static int l_auth_token(lua_State *L)
{
    wsig_auth *a = CHECK(L, 1, T_AUTH, wsig_auth);
    const char *uri = check_cstr(L, 2);
    size_t body_len = 0;
    const char *body = luaL_optlstring(L, 3, NULL, &body_len);
    long long now = opt_i64(L, opt_table(L, 4), "now", 0);
    scratch *s = new_scratch(L);
    int rc = wsig_jwt_token(a, &s->str, uri, body, body ? body_len : 0, now, &s->err);
    return scratch_string(L, s, rc);
}

/* auth:_token_fixed(uri, body, iat, nonce_hex): known answers only. */
static int l_auth_token_fixed(lua_State *L)
{
    wsig_auth *a = CHECK(L, 1, T_AUTH, wsig_auth);
    const char *uri = check_cstr(L, 2);
    size_t body_len = 0;
    const char *body = luaL_optlstring(L, 3, NULL, &body_len);
    long long iat = check_i64(L, 4);
    const char *nonce_hex = check_cstr(L, 5);
    scratch *s = new_scratch(L);
    int rc = wsig_jwt_token_fixed(a, &s->str, uri, body, body ? body_len : 0, iat, nonce_hex,
                                  &s->err);
    return scratch_string(L, s, rc);
}

/* auth:_sign_fixed(session, sequence, body, timestamp): known answers only. */
static int l_auth_sign_fixed(lua_State *L)
{
    wsig_auth *a = CHECK(L, 1, T_AUTH, wsig_auth);
    unsigned long long session = check_u64(L, 2), sequence = check_u64(L, 3);
    size_t body_len = 0;
    const char *body = luaL_optlstring(L, 4, NULL, &body_len);
    long long ts = check_i64(L, 5);
    wsig_headers h;
    wsig_error e = WSIG_ERROR_INIT;
    if (wsig_message_sign_fixed(a, &h, session, sequence, body, body ? body_len : 0, ts, &e) !=
        WSIG_OK)
        return push_error(L, &e);
    push_headers(L, &h);
    return 1;
}

static int l_auth_session(lua_State *L)
{
    wsig_auth *a = CHECK(L, 1, T_AUTH, wsig_auth);
    char out[WSIG_DECIMAL_SIZE];
    wsig_error e = WSIG_ERROR_INIT;
    if (wsig_auth_message_session(a, out, &e) != WSIG_OK)
        return push_error(L, &e);
    lua_pushstring(L, out);
    return 1;
}

static int l_auth_address(lua_State *L)
{
    wsig_auth *a = CHECK(L, 1, T_AUTH, wsig_auth);
    char out[WSIG_ADDRESS_SIZE];
    wsig_error e = WSIG_ERROR_INIT;
    if (wsig_auth_message_address(a, out, &e) != WSIG_OK)
        return push_error(L, &e);
    lua_pushstring(L, out);
    return 1;
}

static int l_auth_kind(lua_State *L)
{
    switch (wsig_auth_kind_of(CHECK(L, 1, T_AUTH, wsig_auth))) {
    case WSIG_AUTH_JWT: lua_pushliteral(L, "jwt"); break;
    case WSIG_AUTH_HMAC: lua_pushliteral(L, "hmac"); break;
    case WSIG_AUTH_MESSAGE: lua_pushliteral(L, "message"); break;
    default: lua_pushliteral(L, "unknown");
    }
    return 1;
}

/* ------------------------------------------------------------------ */
/* Verification                                                        */

#define STACK_HEADERS 32

/* Header refs from a table {name = value | {value, ...}}. Names and values
 * must be strings (pointers into them stay valid: the table anchors them);
 * their lengths go along, so a NUL inside is the core's to judge.
 * More than STACK_HEADERS go into a userdata left on the stack. */
static wsig_header_ref *collect_headers(lua_State *L, int t, wsig_header_ref *local, size_t *n_out)
{
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "bad headers (names must be strings)");
        if (lua_type(L, -1) == LUA_TSTRING)
            n++;
        else if (lua_type(L, -1) == LUA_TTABLE)
            n += lua_rawlen(L, -1);
        else
            luaL_error(L, "bad headers (values must be strings or lists of strings)");
        lua_pop(L, 1);
    }
    wsig_header_ref *refs = local;
    if (n > STACK_HEADERS)
        refs = (wsig_header_ref *)lua_newuserdata(L, n * sizeof *refs);
    size_t i = 0;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        size_t kl, vl;
        const char *k = lua_tolstring(L, -2, &kl);
        if (lua_type(L, -1) == LUA_TSTRING) {
            const char *v = lua_tolstring(L, -1, &vl);
            if (i < n)
                refs[i++] = (wsig_header_ref){k, v, kl, vl};
        } else {
            size_t m = lua_rawlen(L, -1);
            for (size_t j = 1; j <= m; j++) {
                lua_rawgeti(L, -1, (int)j);
                if (lua_type(L, -1) != LUA_TSTRING)
                    luaL_error(L, "bad headers (values must be strings or lists of strings)");
                const char *v = lua_tolstring(L, -1, &vl);
                if (i < n)
                    refs[i++] = (wsig_header_ref){k, v, kl, vl};
                lua_pop(L, 1);
            }
        }
        lua_pop(L, 1);
    }
    *n_out = i;
    return refs;
}

/* ws.verify_jwt(token, key_or_pem [, {leeway=, now=, uri=, body=, max_ttl=}]) -> claims | nil, err */
static int l_verify_jwt(lua_State *L)
{
    size_t token_len;
    const char *token = luaL_checklstring(L, 1, &token_len);
    int t = opt_table(L, 3);
    long long leeway = opt_i64(L, t, "leeway", 0);
    long long now = opt_i64(L, t, "now", 0);
    const char *uri = opt_string(L, t, "uri", NULL, NULL);
    size_t body_len = 0;
    const char *body = opt_string(L, t, "body", NULL, &body_len);
    /* The core checks the ranges (argument_error). */
    wsig_jwt_verify_options vo = {int_field(leeway), int_field(opt_i64(L, t, "max_ttl", 0))};
    const wsig_key *key;
    handle *tmp = NULL;
    wsig_error e = WSIG_ERROR_INIT;
    if (lua_type(L, 2) == LUA_TSTRING) {
        size_t pem_len;
        const char *pem = lua_tolstring(L, 2, &pem_len);
        tmp = new_handle(L, T_KEY); /* freed below, or by __gc if something raises */
        if (wsig_key_load_pem((wsig_key **)&tmp->p, pem, pem_len, NULL, &e) != WSIG_OK)
            return push_error(L, &e);
        key = (const wsig_key *)tmp->p;
    } else {
        key = CHECK(L, 2, T_KEY, const wsig_key);
    }
    wsig_jwt_claims c;
    int rc = wsig_jwt_verify(key, &c, token, token_len, now, &vo, uri, body, body_len, &e);
    if (tmp)
        free_handle(tmp);
    if (rc != WSIG_OK)
        return push_error(L, &e);
    lua_createtable(L, 0, 8);
    set_str(L, "alg", c.alg);
    set_str(L, "kid", c.kid);
    set_str(L, "sub", c.sub);
    push_i64(L, c.iat);
    lua_setfield(L, -2, "iat");
    push_i64(L, c.exp);
    lua_setfield(L, -2, "exp");
    set_str(L, "nonce", c.nonce);
    set_str(L, "bodyHash", c.body_hash);
    set_str(L, "uri", c.uri);
    return 1;
}

/* ws.hmac_verifier{secrets={api_key=secret,...}, window_ms=30000, encoding=, separator=, ...,
 *                  replay_cache=false, cache_size=100000} */
static int l_hmac_verifier(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    long long window = opt_i64(L, 1, "window_ms", 0); /* 0: the core's default */
    int replay_cache = opt_bool(L, 1, "replay_cache", 0);
    size_t cache = size_field(opt_i64(L, 1, "cache_size", 0));
    wsig_hmac_options opt;
    read_hmac_options(L, 1, &opt);
    if (get_field(L, 1, "secrets") != LUA_TTABLE)
        field_error(L, "secrets", "table");
    int secrets = lua_gettop(L);
    handle *h = new_handle(L, T_HMACV);
    int ud = lua_gettop(L);
    wsig_error e = WSIG_ERROR_INIT;
    if (wsig_hmac_verifier_new((wsig_hmac_verifier **)&h->p, window, &opt, &e) != WSIG_OK)
        return push_error(L, &e);
    lua_pushnil(L);
    while (lua_next(L, secrets)) {
        size_t kl, sl;
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
            return luaL_error(L, "bad option 'secrets' (a table of api_key = secret strings expected)");
        const char *k = lua_tolstring(L, -2, &kl);
        const char *secret = lua_tolstring(L, -1, &sl);
        if (strlen(k) != kl)
            return luaL_error(L, "bad option 'secrets' (NUL in an api key)");
        if (wsig_hmac_verifier_add((wsig_hmac_verifier *)h->p, k, secret, sl, &e) != WSIG_OK)
            return push_error(L, &e);
        lua_pop(L, 1);
    }
    if (replay_cache && wsig_hmac_verifier_replay_cache((wsig_hmac_verifier *)h->p, cache, &e) !=
                            WSIG_OK)
        return push_error(L, &e);
    lua_pushvalue(L, ud);
    return 1;
}

/* verifier:verify(method, path, headers, body [, {now=ms}]) -> api_key | nil, err */
static int l_hmac_verify(lua_State *L)
{
    const wsig_hmac_verifier *v = CHECK(L, 1, T_HMACV, const wsig_hmac_verifier);
    const char *method = check_cstr(L, 2);
    const char *path = check_cstr(L, 3);
    luaL_checktype(L, 4, LUA_TTABLE);
    size_t body_len = 0;
    const char *body = luaL_optlstring(L, 5, NULL, &body_len);
    long long now = opt_i64(L, opt_table(L, 6), "now", 0);
    wsig_header_ref local[STACK_HEADERS];
    size_t n;
    const wsig_header_ref *refs = collect_headers(L, 4, local, &n);
    char api_key[WSIG_HEADER_VALUE_MAX];
    wsig_error e = WSIG_ERROR_INIT;
    if (wsig_hmac_verify(v, api_key, method, path, refs, n, body, body ? body_len : 0, now, &e) !=
        WSIG_OK)
        return push_error(L, &e);
    lua_pushstring(L, api_key);
    return 1;
}

/* libcurl and hiredis block: inside an nginx request handler (or timer) one
 * call would stall every request of the worker, so the client, and a
 * verifier with a Redis replay store, refuse to run there (`what`, and what
 * to do `instead`). */
static void refuse_in_nginx(lua_State *L, const char *what, const char *instead)
{
    static const char *const blocking[] = {
        "set", "rewrite", "server_rewrite", "access", "content", "header_filter", "body_filter",
        "log", "timer", "balancer", "ssl_cert", "ssl_session_fetch", "ssl_session_store",
        "ssl_client_hello", "preread", NULL,
    };
    lua_getglobal(L, "ngx");
    if (lua_type(L, -1) != LUA_TTABLE) {
        lua_pop(L, 1);
        return;
    }
    lua_getfield(L, -1, "get_phase");
    if (lua_type(L, -1) != LUA_TFUNCTION) {
        lua_pop(L, 2);
        return;
    }
    lua_call(L, 0, 1);
    const char *phase = lua_tostring(L, -1);
    for (int i = 0; phase && blocking[i]; i++)
        if (strcmp(phase, blocking[i]) == 0)
            luaL_error(L, "walletsign: %s would block the nginx worker in the %s phase; %s", what,
                       phase, instead);
    lua_pop(L, 2);
}

#define CLIENT_INSTEAD "use require(\"walletsign.nginx\").client, which lets nginx do the I/O"
#define STORE_INSTEAD "use walletsign.nginx verify_callback with replay = {redis = {...}} (cosockets)"

/* ------------------------------------------------------------------ */
/* Replay stores                                                       */

/* ws.redis_replay_store(url [, {prefix=, timeout=}]) -> store | nil, err.
 * The URL, the ranges and the defaults are the core's; nothing connects
 * until the first use (wsig_replay_store_redis_new). */
static int l_redis_replay_store(lua_State *L)
{
    const char *url = luaL_checkstring(L, 1);
    int t = opt_table(L, 2);
    wsig_redis_options opt;
    memset(&opt, 0, sizeof opt); /* 0 and NULL: the core's defaults */
    opt.timeout = opt_number(L, t, "timeout", 0);
    opt.prefix = opt_string(L, t, "prefix", NULL, NULL); /* anchored by the table; copied */
    handle *h = new_handle(L, T_STORE);
    wsig_error e = WSIG_ERROR_INIT;
    if (wsig_replay_store_redis_new((wsig_replay_store **)&h->p, url, &opt, &e) != WSIG_OK)
        return push_error(L, &e);
    return 1;
}

/* The verified messages, for verifier:release(msg): a weak-keyed registry
 * table from each result table of verifier:verify to a copy of its
 * wsig_message, so release() hands the core the message it verified, never
 * one rebuilt from fields a caller may have changed. */
static const char VERIFIED_KEY[] = "walletsign.verified";

static void remember_message(lua_State *L, int result, const wsig_message *m)
{
    lua_getfield(L, LUA_REGISTRYINDEX, VERIFIED_KEY);
    lua_pushvalue(L, result);
    memcpy(lua_newuserdata(L, sizeof *m), m, sizeof *m);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

static const wsig_message *remembered_message(lua_State *L, int result)
{
    lua_getfield(L, LUA_REGISTRYINDEX, VERIFIED_KEY);
    lua_pushvalue(L, result);
    lua_rawget(L, -2);
    const wsig_message *m = (const wsig_message *)lua_touserdata(L, -1);
    lua_pop(L, 2); /* the result table keeps the userdata alive */
    return m;
}

/* ws.message_verifier{trusted={...}, window_ms=60000, cache_size=100000, replay_cache=true, digest=,
 *                     replay_store=} */
static int l_message_verifier(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    wsig_message_verifier_options opt;
    memset(&opt, 0, sizeof opt); /* 0: the core's defaults; the core checks the ranges */
    opt.window_ms = opt_i64(L, 1, "window_ms", 0);
    opt.cache_size = size_field(opt_i64(L, 1, "cache_size", 0));
    opt.no_replay_cache = !opt_bool(L, 1, "replay_cache", 1);
    opt.digest = opt_option(L, 1, "digest", WSIG_OPTION_DIGEST, WSIG_DIGEST_SHA256);
    handle *store = field_handle(L, 1, "replay_store", T_STORE, 0); /* the verifier keeps a reference */
    opt.replay_store = store ? (wsig_replay_store *)store->p : NULL;
    if (get_field(L, 1, "trusted") != LUA_TTABLE)
        field_error(L, "trusted", "table");
    int trusted = lua_gettop(L);
    size_t n = lua_rawlen(L, trusted);
    const char **addrs = (const char **)lua_newuserdata(L, (n ? n : 1) * sizeof *addrs);
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, trusted, (int)i + 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            return luaL_error(L, "bad option 'trusted' (a list of address strings expected)");
        addrs[i] = lua_tostring(L, -1); /* anchored by the trusted table */
        lua_pop(L, 1);
    }
    handle *h = new_handle(L, T_MSGV);
    h->replay_cache = !opt.no_replay_cache;
    h->replay_store = store != NULL;
    wsig_error e = WSIG_ERROR_INIT;
    if (wsig_message_verifier_new((wsig_message_verifier **)&h->p, addrs, n, &opt, &e) != WSIG_OK)
        return push_error(L, &e);
    return 1;
}

/* verifier:verify(headers, body [, {now=ms}]) -> {address=, session=, sequence=, timestamp=} | nil, err */
static int l_message_verify(lua_State *L)
{
    handle *h = check_handle(L, 1, T_MSGV);
    wsig_message_verifier *v = (wsig_message_verifier *)h->p;
    if (h->replay_store)
        refuse_in_nginx(L, "a message verifier with a replay_store", STORE_INSTEAD);
    luaL_checktype(L, 2, LUA_TTABLE);
    size_t body_len = 0;
    const char *body = luaL_optlstring(L, 3, NULL, &body_len);
    long long now = opt_i64(L, opt_table(L, 4), "now", 0);
    wsig_header_ref local[STACK_HEADERS];
    size_t n;
    const wsig_header_ref *refs = collect_headers(L, 2, local, &n);
    wsig_message m;
    wsig_error e = WSIG_ERROR_INIT;
    if (wsig_message_verify(v, &m, refs, n, body, body ? body_len : 0, now, &e) != WSIG_OK)
        return push_error(L, &e);
    lua_createtable(L, 0, 4);
    set_str(L, "address", m.address);
    set_str(L, "session", m.session);
    set_str(L, "sequence", m.sequence);
    push_i64(L, m.timestamp_ms);
    lua_setfield(L, -2, "timestamp");
    /* For replay stores outside the verifier (walletsign.nginx). */
    char key[WSIG_REPLAY_KEY_SIZE];
    int64_t ttl_ms;
    (void)wsig_message_replay_key(v, &m, key, &ttl_ms);
    set_str(L, "replay_key", key);
    push_i64(L, ttl_ms);
    lua_setfield(L, -2, "replay_ttl_ms");
    remember_message(L, lua_gettop(L), &m);
    return 1;
}

/* verifier:release(msg) -> true | nil, err: free the reservation of a
 * message this verifier accepted, because its handler failed and the
 * sender will redeliver; the redelivery is then accepted once. msg is a
 * result of verifier:verify. The rules (no_replay_cache, a store that
 * cannot be reached) are the core's (wsig_message_release). */
static int l_message_release(lua_State *L)
{
    handle *h = check_handle(L, 1, T_MSGV);
    luaL_checktype(L, 2, LUA_TTABLE);
    const wsig_message *m = remembered_message(L, 2);
    if (!m)
        return luaL_argerror(L, 2, "a message returned by verifier:verify expected");
    if (h->replay_store)
        refuse_in_nginx(L, "a message verifier with a replay_store", STORE_INSTEAD);
    wsig_error e = WSIG_ERROR_INIT;
    if (wsig_message_release((wsig_message_verifier *)h->p, m, &e) != WSIG_OK)
        return push_error(L, &e);
    lua_pushboolean(L, 1);
    return 1;
}

/* verifier:window_ms(), verifier:replay_cache(): what it was made with. */
static int l_message_window(lua_State *L)
{
    handle *h = check_handle(L, 1, T_MSGV);
    push_i64(L, wsig_message_verifier_window_ms((const wsig_message_verifier *)h->p));
    return 1;
}

static int l_message_replay_cache(lua_State *L)
{
    lua_pushboolean(L, check_handle(L, 1, T_MSGV)->replay_cache);
    return 1;
}

/* ------------------------------------------------------------------ */
/* JSON-RPC envelope                                                   */

static int l_rpc_result(lua_State *L)
{
    luaL_checkany(L, 1);
    scratch *j = encode_arg(L, 1);
    scratch *s = new_scratch(L);
    int rc = wsig_rpc_result(&s->str, &s->str_len, j->json, j->json_len, &s->err);
    scratch_release(j);
    return scratch_string(L, s, rc);
}

static int l_rpc_error(lua_State *L)
{
    long long code = check_i64(L, 1);
    const char *message = check_cstr(L, 2);
    scratch *d = lua_isnoneornil(L, 3) ? NULL : encode_arg(L, 3);
    scratch *s = new_scratch(L);
    int rc = wsig_rpc_error(&s->str, &s->str_len, code, message, d ? d->json : NULL, &s->err);
    if (d)
        scratch_release(d);
    return scratch_string(L, s, rc);
}

/* Push the Lua value of the JSON text in s->str and release s (or nil, err). */
static int scratch_json(lua_State *L, scratch *s)
{
    if (!push_json_text(L, s->str, strlen(s->str), NULL)) {
        scratch_release(s);
        wsig_error e = WSIG_ERROR_INIT;
        e.status = WSIG_ERR_PROTOCOL;
        snprintf(e.message, sizeof e.message, "the response is not valid JSON");
        return push_error(L, &e);
    }
    scratch_release(s);
    return 1;
}

/* ws.rpc_parse(body) -> result | nil, err (kind "rpc_error": code, message, data) */
static int l_rpc_parse(lua_State *L)
{
    size_t n;
    const char *body = luaL_checklstring(L, 1, &n);
    scratch *s = new_scratch(L);
    if (wsig_rpc_parse(&s->str, body, n, &s->err) != WSIG_OK)
        return scratch_error(L, s);
    return scratch_json(L, s);
}

static int l_json_encode(lua_State *L)
{
    luaL_checkany(L, 1);
    scratch *s = encode_arg(L, 1);
    lua_pushlstring(L, s->json, s->json_len);
    scratch_release(s);
    return 1;
}

static int l_json_decode(lua_State *L)
{
    size_t n;
    const char *text = luaL_checklstring(L, 1, &n);
    wsig_error e = WSIG_ERROR_INIT; /* owns nothing: parse errors carry a message only */
    if (!push_json_text(L, text, n, &e)) {
        lua_pushnil(L);
        lua_pushstring(L, e.message);
        return 2;
    }
    return 1;
}

static int l_keccak256_hex(lua_State *L)
{
    static const char hex[] = "0123456789abcdef";
    size_t n;
    const char *data = luaL_checklstring(L, 1, &n);
    unsigned char d[32];
    char out[64];
    wsig_keccak256(d, data, n);
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    lua_pushlstring(L, out, sizeof out);
    return 1;
}

/* ------------------------------------------------------------------ */
/* Client                                                              */

/* ws.client{base_url=, auth=, timeout=10, attempt_timeout=, connect_timeout=5,
 *           verify=true|false|cafile,
 *           ca_path=, rate_limit={10, 10}|false|ws.redis_rate_limit(...), retries=,
 *           user_agent=, max_response=,
 *           max_429_attempts=, max_retry_after=, backoff=, response_verifier=} */
static int client_new(lua_State *L, const char *binding)
{
    const char *base_url = opt_string(L, 1, "base_url", NULL, NULL);
    if (!base_url)
        return luaL_error(L, "bad option 'base_url' (string expected, got nil)");
    /* The core's defaults; every range is the core's (wsig_client_new). */
    wsig_client_options opt = WSIG_CLIENT_OPTIONS_INIT;
    opt.binding = binding;
    opt.timeout = opt_number(L, 1, "timeout", opt.timeout);
    opt.attempt_timeout = opt_number(L, 1, "attempt_timeout", opt.attempt_timeout);
    opt.connect_timeout = opt_number(L, 1, "connect_timeout", opt.connect_timeout);
    opt.ca_path = opt_string(L, 1, "ca_path", NULL, NULL);
    opt.user_agent = opt_string(L, 1, "user_agent", NULL, NULL);
    opt.max_response = size_field(opt_i64(L, 1, "max_response", (long long)opt.max_response));
    opt.max_429_attempts = int_field(opt_i64(L, 1, "max_429_attempts", opt.max_429_attempts));
    opt.max_retry_after = opt_number(L, 1, "max_retry_after", opt.max_retry_after);
    opt.backoff = opt_number(L, 1, "backoff", opt.backoff);
    opt.max_retries = int_field(opt_i64(L, 1, "retries", opt.max_retries));

    int ty = get_field(L, 1, "verify");
    if (ty == LUA_TBOOLEAN)
        opt.insecure = !lua_toboolean(L, -1);
    else if (ty == LUA_TSTRING)
        opt.ca_file = lua_tostring(L, -1);
    else if (ty != LUA_TNIL)
        field_error(L, "verify", "boolean or CA file path");
    lua_pop(L, 1);

    ty = get_field(L, 1, "rate_limit");
    handle *limiter = ty == LUA_TUSERDATA ? (handle *)luaL_testudata(L, -1, TYPE_NAMES[T_RATE])
                                          : NULL;
    if (limiter) {
        if (limiter->closed || !limiter->p)
            luaL_error(L, "bad option 'rate_limit' (a closed %s)", TYPE_NAMES[T_RATE]);
        opt.rate_limit = (wsig_rate_limit *)limiter->p; /* the client takes a reference */
    } else if (ty == LUA_TBOOLEAN) {
        if (!lua_toboolean(L, -1))
            opt.rate = -1; /* rate_limit = false: the core's "no limiter" */
    } else if (ty == LUA_TTABLE) {
        int t = lua_gettop(L);
        lua_rawgeti(L, t, 1);
        lua_rawgeti(L, t, 2);
        opt.rate = lua_isnumber(L, -2) ? (double)lua_tonumber(L, -2) : opt_number(L, t, "rate", opt.rate);
        opt.burst = lua_isnumber(L, -1) ? (double)lua_tonumber(L, -1) : opt_number(L, t, "burst", opt.burst);
        lua_pop(L, 2);
    } else if (ty != LUA_TNIL) {
        field_error(L, "rate_limit", "{rate, burst}, false or a ws.redis_rate_limit");
    }
    lua_pop(L, 1);

    handle *h = new_handle(L, T_CLIENT);
    int ud = lua_gettop(L);
    /* The core takes its own references on both: closing or collecting the
     * Lua handles only drops theirs. */
    handle *auth = field_handle(L, 1, "auth", T_AUTH, 1);
    handle *verifier = field_handle(L, 1, "response_verifier", T_MSGV, 0);
    if (verifier)
        opt.response_verifier = (wsig_message_verifier *)verifier->p;
    wsig_error e = WSIG_ERROR_INIT;
    if (wsig_client_new((wsig_client **)&h->p, base_url, (wsig_auth *)auth->p, &opt, &e) != WSIG_OK)
        return push_error(L, &e);
    if (e.warning[0]) {
        lua_pushvalue(L, ud);
        lua_pushstring(L, e.warning);
        return 2;
    }
    lua_pushvalue(L, ud);
    return 1;
}

static int l_client(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    refuse_in_nginx(L, "ws.client", CLIENT_INSTEAD);
    return client_new(L, "lua");
}

/* The same client for walletsign.nginx, which never lets it block: its
 * calls go through c:_start_*() and nginx moves the bytes. */
static int l_nginx_client(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    return client_new(L, "nginx");
}

/* ws.redis_rate_limit(url [, {rate=10, burst=10, prefix="walletsign:", timeout=0.5}])
 * -> a token bucket in Redis shared by processes and machines, for
 * ws.client{rate_limit = limiter} | nil, err. Nothing is connected here. */
static int l_redis_rate_limit(lua_State *L)
{
    const char *url = check_cstr(L, 1);
    int t = opt_table(L, 2);
    double rate = opt_number(L, t, "rate", 10), burst = opt_number(L, t, "burst", 10);
    wsig_redis_options ro = {.timeout = opt_number(L, t, "timeout", 0.5),
                             .prefix = opt_string(L, t, "prefix", NULL, NULL)};
    handle *h = new_handle(L, T_RATE);
    wsig_error e = WSIG_ERROR_INIT;
    if (wsig_rate_limit_redis_new((wsig_rate_limit **)&h->p, url, rate, burst, &ro, &e) != WSIG_OK)
        return push_error(L, &e);
    return 1;
}

/* c:query(name [, payload]) -> decoded response | nil, err */
static int l_client_query(lua_State *L)
{
    wsig_client *c = CHECK(L, 1, T_CLIENT, wsig_client);
    refuse_in_nginx(L, "ws.client", CLIENT_INSTEAD);
    const char *name = check_cstr(L, 2);
    scratch *enc;
    const char *payload = payload_arg(L, 3, &enc);
    scratch *s = new_scratch(L);
    int rc = wsig_client_query(c, &s->str, name, payload, &s->err);
    release_payload(enc);
    if (rc != WSIG_OK)
        return scratch_error(L, s);
    return scratch_json(L, s);
}

/* c:command(name [, payload [, {idempotency_key=}]]) -> decoded response | nil, err */
static int l_client_command(lua_State *L)
{
    wsig_client *c = CHECK(L, 1, T_CLIENT, wsig_client);
    refuse_in_nginx(L, "ws.client", CLIENT_INSTEAD);
    const char *name = check_cstr(L, 2);
    scratch *enc;
    const char *payload = payload_arg(L, 3, &enc);
    const char *idem = opt_string(L, opt_table(L, 4), "idempotency_key", NULL, NULL);
    scratch *s = new_scratch(L);
    int rc = wsig_client_command(c, &s->str, name, payload, idem, &s->err);
    release_payload(enc);
    if (rc != WSIG_OK)
        return scratch_error(L, s);
    return scratch_json(L, s);
}

/* c:call(method, path [, params]) -> the JSON-RPC result | nil, err */
static int l_client_call(lua_State *L)
{
    wsig_client *c = CHECK(L, 1, T_CLIENT, wsig_client);
    refuse_in_nginx(L, "ws.client", CLIENT_INSTEAD);
    const char *method = check_cstr(L, 2);
    const char *path = check_cstr(L, 3);
    scratch *enc;
    const char *params = payload_arg(L, 4, &enc);
    scratch *s = new_scratch(L);
    int rc = wsig_client_call(c, &s->str, method, path, params, &s->err);
    release_payload(enc);
    if (rc != WSIG_OK)
        return scratch_error(L, s);
    return scratch_json(L, s);
}

/* Response headers block -> {lower-case name = value}; repeated names are
 * joined with ", " (RFC 9110 §5.3); the status line is skipped. */
/* The response's headers, read by the core's walk, as a table: names in
 * lower case, repeated ones joined with ", " (RFC 9110 5.3). */
static void push_response_headers(lua_State *L, const wsig_response *res)
{
    lua_newtable(L);
    int t = lua_gettop(L);
    size_t pos = 0, nl, vl;
    const char *n, *v;
    while (wsig_response_header_next(res, &pos, &n, &nl, &v, &vl)) {
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        for (size_t i = 0; i < nl; i++)
            luaL_addchar(&b, (n[i] >= 'A' && n[i] <= 'Z') ? (char)(n[i] + 32) : n[i]);
        luaL_pushresult(&b);
        lua_pushvalue(L, -1);
        lua_rawget(L, t);
        if (lua_isstring(L, -1)) {
            lua_pushliteral(L, ", ");
            lua_pushlstring(L, v, vl);
            lua_concat(L, 3);
        } else {
            lua_pop(L, 1);
            lua_pushlstring(L, v, vl);
        }
        lua_rawset(L, t);
    }
}

static int push_response(lua_State *L, scratch *s);

/* c:request(method, path [, {json=, body=, headers=}]) -> {status=, headers=, body=, attempts=} | nil, err */
/* The optional {json=, body=, headers=} of a request at stack index idx.
 * A json= value is encoded into a scratch that stays on the stack while its
 * text is in use (the caller releases a->json); the headers point into
 * a->local or into memory on the stack. */
typedef struct request_args {
    const char *body;
    size_t body_len;
    wsig_header_ref local[STACK_HEADERS];
    const wsig_header_ref *extra;
    size_t n_extra;
    scratch *json;
} request_args;

static void read_request_args(lua_State *L, int idx, request_args *a)
{
    a->body = NULL;
    a->body_len = 0;
    a->extra = NULL;
    a->n_extra = 0;
    a->json = NULL;
    int t = opt_table(L, idx);
    if (!t)
        return;
    a->body = opt_string(L, t, "body", NULL, &a->body_len);
    if (get_field(L, t, "json") != LUA_TNIL) {
        if (a->body)
            luaL_error(L, "bad options (json and body are exclusive)");
        a->json = encode_arg(L, -1);
        a->body = a->json->json;
        a->body_len = a->json->json_len;
    }
    int ty = get_field(L, t, "headers");
    if (ty == LUA_TTABLE)
        a->extra = collect_headers(L, lua_gettop(L), a->local, &a->n_extra);
    else if (ty != LUA_TNIL)
        field_error(L, "headers", "table");
}

static int l_client_request(lua_State *L)
{
    wsig_client *c = CHECK(L, 1, T_CLIENT, wsig_client);
    refuse_in_nginx(L, "ws.client", CLIENT_INSTEAD);
    const char *method = check_cstr(L, 2);
    const char *path = check_cstr(L, 3);
    request_args a;
    read_request_args(L, 4, &a);
    scratch *s = new_scratch(L);
    s->has_res = 1;
    /* json= goes through the core's JSON request (checked, and labelled). */
    int rc = a.json ? wsig_client_request_json(c, &s->res, method, path, a.body, a.body_len,
                                               a.extra, a.n_extra, &s->err)
                    : wsig_client_request(c, &s->res, method, path, a.body, a.body_len, a.extra,
                                          a.n_extra, &s->err);
    if (a.json)
        scratch_release(a.json);
    if (rc != WSIG_OK)
        return scratch_error(L, s);
    return push_response(L, s);
}

/* {status=, headers=, body=, attempts=} from s->res; releases s. */
static int push_response(lua_State *L, scratch *s)
{
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, (lua_Integer)s->res.status);
    lua_setfield(L, -2, "status");
    lua_pushlstring(L, s->res.body ? s->res.body : "", s->res.body ? s->res.body_len : 0);
    lua_setfield(L, -2, "body");
    lua_pushinteger(L, s->res.attempts);
    lua_setfield(L, -2, "attempts");
    push_response_headers(L, &s->res);
    lua_setfield(L, -2, "headers");
    luaL_getmetatable(L, RESPONSE_MT);
    lua_setmetatable(L, -2);
    scratch_release(s);
    return 1;
}

/* ------------------------------------------------------------------ */
/* Calls without a transport (walletsign.nginx's client)               */
/* The core's wsig_call holds every rule; this converts its steps to   */
/* Lua values and the driver's reports back (lua/walletsign/           */
/* nginx_client.lua moves the bytes).                                  */

enum { CALL_JSON, CALL_RESPONSE };

/* The new call (rc WSIG_OK) as a handle that keeps its client alive, or nil, err. */
static int call_result_handle(lua_State *L, wsig_call *call, int kind, int rc, wsig_error *e)
{
    if (rc != WSIG_OK)
        return push_error(L, e);
    handle *h = new_handle(L, T_CALL);
    h->p = call;
    h->call_kind = kind;
    lua_pushvalue(L, 1); /* the client: freed only after its calls */
    keep_ref(L, lua_gettop(L) - 1, "client");
    return 1;
}

/* c:_start_query(name [, payload]) / c:_start_command(name [, payload [, {idempotency_key=}]]) */
static int start_halogen(lua_State *L, int command)
{
    wsig_client *c = CHECK(L, 1, T_CLIENT, wsig_client);
    const char *name = check_cstr(L, 2);
    scratch *enc;
    const char *payload = payload_arg(L, 3, &enc);
    const char *idem = command ? opt_string(L, opt_table(L, 4), "idempotency_key", NULL, NULL)
                               : NULL;
    wsig_error e = WSIG_ERROR_INIT;
    wsig_call *call;
    int rc = wsig_call_halogen(&call, c, command, name, payload, idem, &e);
    release_payload(enc);
    return call_result_handle(L, call, CALL_JSON, rc, &e);
}

static int l_start_query(lua_State *L)
{
    return start_halogen(L, 0);
}

static int l_start_command(lua_State *L)
{
    return start_halogen(L, 1);
}

/* c:_start_call(method, path [, params]) */
static int l_start_call(lua_State *L)
{
    wsig_client *c = CHECK(L, 1, T_CLIENT, wsig_client);
    const char *method = check_cstr(L, 2);
    const char *path = check_cstr(L, 3);
    scratch *enc;
    const char *params = payload_arg(L, 4, &enc);
    wsig_error e = WSIG_ERROR_INIT;
    wsig_call *call;
    int rc = wsig_call_rpc(&call, c, method, path, params, &e);
    release_payload(enc);
    return call_result_handle(L, call, CALL_JSON, rc, &e);
}

/* c:_start_request(method, path [, {json=, body=, headers=}]) */
static int l_start_request(lua_State *L)
{
    wsig_client *c = CHECK(L, 1, T_CLIENT, wsig_client);
    const char *method = check_cstr(L, 2);
    const char *path = check_cstr(L, 3);
    request_args a;
    read_request_args(L, 4, &a);
    wsig_error e = WSIG_ERROR_INIT;
    wsig_call *call;
    int rc = wsig_call_request(&call, c, method, path, a.body, a.body_len, a.extra, a.n_extra,
                               a.json != NULL, &e);
    if (a.json)
        scratch_release(a.json);
    return call_result_handle(L, call, CALL_RESPONSE, rc, &e);
}

/* c:_rate() -> rate, burst (nil when the client has no limiter) */
static int l_client_rate(lua_State *L)
{
    wsig_client *c = CHECK(L, 1, T_CLIENT, wsig_client);
    double rate, burst;
    if (!wsig_client_rate(c, &rate, &burst))
        return 0;
    lua_pushnumber(L, rate);
    lua_pushnumber(L, burst);
    return 2;
}

/* core.rate_take(tokens, last, now, rate, burst, max_wait) -> wait, taken, tokens, last
 * (tokens nil: a full bucket). The arithmetic is the core's (wsig_rate_take). */
static int l_rate_take(lua_State *L)
{
    double rate = luaL_checknumber(L, 4), burst = luaL_checknumber(L, 5);
    wsig_rate_state st = {lua_isnil(L, 1) ? burst : luaL_checknumber(L, 1),
                          luaL_optnumber(L, 2, 0)};
    int taken;
    double wait = wsig_rate_take(&st, luaL_checknumber(L, 3), rate, burst, luaL_checknumber(L, 6),
                                 &taken);
    lua_pushnumber(L, wait);
    lua_pushboolean(L, taken);
    lua_pushnumber(L, st.tokens);
    lua_pushnumber(L, st.last);
    return 4;
}

/* core.rate_refund(tokens, last, now, rate, burst) -> tokens, last */
static int l_rate_refund(lua_State *L)
{
    double rate = luaL_checknumber(L, 4), burst = luaL_checknumber(L, 5);
    wsig_rate_state st = {lua_isnil(L, 1) ? burst : luaL_checknumber(L, 1),
                          luaL_optnumber(L, 2, 0)};
    wsig_rate_refund(&st, luaL_checknumber(L, 3), rate, burst);
    lua_pushnumber(L, st.tokens);
    lua_pushnumber(L, st.last);
    return 2;
}

/* core.rate_answer_seen(last, now) -> last */
static int l_rate_answer_seen(lua_State *L)
{
    wsig_rate_state st = {0, luaL_optnumber(L, 1, 0)};
    wsig_rate_answer_seen(&st, luaL_checknumber(L, 2));
    lua_pushnumber(L, st.last);
    return 1;
}

static void push_send_step(lua_State *L, const wsig_call_send *send)
{
    lua_createtable(L, 0, 8);
    set_str(L, "method", send->method);
    set_str(L, "url", send->url);
    set_str(L, "target", send->target);
    lua_pushlstring(L, send->host, send->host_len);
    lua_setfield(L, -2, "host");
    lua_pushlstring(L, (const char *)send->body, send->body_len);
    lua_setfield(L, -2, "body");
    lua_pushnumber(L, send->timeout);
    lua_setfield(L, -2, "timeout");
    lua_createtable(L, (int)send->n_headers, 0); /* {{name, value}, ...} in order */
    for (size_t i = 0; i < send->n_headers; i++) {
        lua_createtable(L, 2, 0);
        lua_pushstring(L, send->headers[i].name);
        lua_rawseti(L, -2, 1);
        lua_pushstring(L, send->headers[i].value);
        lua_rawseti(L, -2, 2);
        lua_rawseti(L, -2, (int)i + 1);
    }
    lua_setfield(L, -2, "headers");
}

static void push_event(lua_State *L, const wsig_client_event *ev)
{
    static const char *const kinds[] = {"?", "retry", "wait_429", "wait_rate"};
    lua_createtable(L, 0, 6);
    set_str(L, "kind", kinds[ev->kind >= 1 && ev->kind <= 3 ? ev->kind : 0]);
    set_str(L, "method", ev->method);
    lua_pushlstring(L, ev->path, ev->path_len);
    lua_setfield(L, -2, "path");
    lua_pushinteger(L, ev->attempt);
    lua_setfield(L, -2, "attempt");
    lua_pushnumber(L, ev->delay);
    lua_setfield(L, -2, "delay");
    set_str(L, "cause", ev->cause ? ev->cause : "");
}

/* call:next() -> "token", max_wait | "send", {method=, url=, target=, host=, body=,
 * headers={{name, value}...}, timeout=} | "wait", event | "done" */
static int l_call_next(lua_State *L)
{
    wsig_call *call = CHECK(L, 1, T_CALL, wsig_call);
    wsig_call_step step;
    switch (wsig_call_next(call, &step)) {
    case WSIG_STEP_TOKEN:
        lua_pushliteral(L, "token");
        lua_pushnumber(L, step.max_wait);
        return 2;
    case WSIG_STEP_SEND:
        lua_pushliteral(L, "send");
        push_send_step(L, &step.send);
        return 2;
    case WSIG_STEP_WAIT:
        lua_pushliteral(L, "wait");
        push_event(L, &step.event);
        return 2;
    default: lua_pushliteral(L, "done"); return 1;
    }
}

/* call:token(wait, taken) */
static int l_call_token(lua_State *L)
{
    wsig_call *call = CHECK(L, 1, T_CALL, wsig_call);
    wsig_call_token(call, luaL_checknumber(L, 2), lua_isnone(L, 3) || lua_toboolean(L, 3));
    return 0;
}

typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} block;

static void block_add(block *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n)
            cap *= 2;
        char *p = (char *)realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

/* One "name: value" line per value; a value holding CR or LF (never from
 * nginx's parser) is left out rather than split into two headers. */
static void block_header(block *b, const char *name, size_t nl, const char *v, size_t vl)
{
    if (memchr(v, '\r', vl) || memchr(v, '\n', vl) || memchr(name, ':', nl) ||
        memchr(name, '\n', nl))
        return;
    block_add(b, name, nl);
    block_add(b, ": ", 2);
    block_add(b, v, vl);
    block_add(b, "\r\n", 2);
}

/* call:answer(status, headers, body): headers as ngx.location.capture
 * gives them, {name = value | {value, ...}}, become the header block the
 * core reads (wsig_response_header_next). Nothing below raises while the
 * block is held (lua_next, lua_rawgeti and lua_tolstring on strings). */
static int l_call_answer(lua_State *L)
{
    wsig_call *call = CHECK(L, 1, T_CALL, wsig_call);
    lua_Integer status = luaL_checkinteger(L, 2);
    if (!lua_isnoneornil(L, 3))
        luaL_checktype(L, 3, LUA_TTABLE);
    size_t body_len = 0;
    const char *body = luaL_optlstring(L, 4, "", &body_len);
    block b = {NULL, 0, 0, 0};
    if (lua_istable(L, 3)) {
        lua_pushnil(L);
        while (lua_next(L, 3)) {
            size_t nl, vl;
            const char *name = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &nl) : NULL;
            if (name && lua_type(L, -1) == LUA_TSTRING) {
                const char *v = lua_tolstring(L, -1, &vl);
                block_header(&b, name, nl, v, vl);
            } else if (name && lua_type(L, -1) == LUA_TTABLE) {
                for (int i = 1; i <= (int)lua_rawlen(L, -1); i++) {
                    lua_rawgeti(L, -1, i);
                    if (lua_type(L, -1) == LUA_TSTRING) {
                        const char *v = lua_tolstring(L, -1, &vl);
                        block_header(&b, name, nl, v, vl);
                    }
                    lua_pop(L, 1);
                }
            }
            lua_pop(L, 1);
        }
    }
    if (b.oom) {
        free(b.p);
        return luaL_error(L, "out of memory");
    }
    wsig_call_answer(call, (long)status, b.p ? b.p : "", b.len, body, body_len);
    free(b.p);
    return 0;
}

/* call:failure{status="transport_error"|"timeout", outcome="not_sent"|
 * "transient"|"failed", reached=bool, cause=, message=} */
static int l_call_failure(lua_State *L)
{
    wsig_call *call = CHECK(L, 1, T_CALL, wsig_call);
    luaL_checktype(L, 2, LUA_TTABLE);
    static const char *const outcomes[] = {"not_sent", "transient", "failed", NULL};
    const char *status = opt_string(L, 2, "status", "transport_error", NULL);
    const char *outcome = opt_string(L, 2, "outcome", "failed", NULL);
    wsig_send_failure f = {WSIG_ERR_TRANSPORT, WSIG_SEND_FAILED, opt_bool(L, 2, "reached", 1), 0,
                           opt_string(L, 2, "cause", NULL, NULL),
                           opt_string(L, 2, "message", NULL, NULL)};
    if (strcmp(status, wsig_status_name(WSIG_ERR_TIMEOUT)) == 0)
        f.status = WSIG_ERR_TIMEOUT;
    else if (strcmp(status, wsig_status_name(WSIG_ERR_PROTOCOL)) == 0)
        f.status = WSIG_ERR_PROTOCOL;
    else if (strcmp(status, wsig_status_name(WSIG_ERR_TRANSPORT)) != 0)
        return luaL_error(L, "bad option 'status' (transport_error, timeout or protocol_error)");
    for (int i = 0; outcomes[i]; i++)
        if (strcmp(outcome, outcomes[i]) == 0)
            f.outcome = WSIG_SEND_NOT_SENT + i;
    wsig_call_failure(call, &f);
    return 0;
}

/* call:result() -> as the blocking client's query/command/call (decoded
 * JSON) or request (the response table) | nil, err */
static int l_call_result(lua_State *L)
{
    handle *h = check_handle(L, 1, T_CALL);
    scratch *s = new_scratch(L);
    int rc;
    if (h->call_kind == CALL_RESPONSE) {
        s->has_res = 1;
        rc = wsig_call_result((wsig_call *)h->p, NULL, &s->res, &s->err);
    } else {
        rc = wsig_call_result((wsig_call *)h->p, &s->str, NULL, &s->err);
    }
    if (rc != WSIG_OK)
        return scratch_error(L, s);
    return h->call_kind == CALL_RESPONSE ? push_response(L, s) : scratch_json(L, s);
}

/* response:json() -> the decoded body | nil, err */
static int l_response_json(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "body");
    size_t n;
    const char *body = lua_tolstring(L, -1, &n);
    if (!body || !push_json_text(L, body, n, NULL)) {
        wsig_error e = WSIG_ERROR_INIT;
        e.status = WSIG_ERR_PROTOCOL;
        snprintf(e.message, sizeof e.message, "the response body is not valid JSON");
        return push_error(L, &e);
    }
    return 1;
}

/* ------------------------------------------------------------------ */
/* Module                                                              */

static const luaL_Reg KEY_METHODS[] = {
    {"kind", l_key_kind},           {"bits", l_key_bits},
    {"is_private", l_key_is_private}, {"algorithm", l_key_algorithm},
    {"address", l_key_address},     {"public_pem", l_key_public_pem},
    {"private_pem", l_key_private_pem}, {"csr", l_key_csr},
    {"save", l_key_save},           {NULL, NULL},
};

static const luaL_Reg AUTH_METHODS[] = {
    {"sign", l_auth_sign},         {"token", l_auth_token},
    {"session", l_auth_session},   {"address", l_auth_address},
    {"kind", l_auth_kind},         {"_sign_fixed", l_auth_sign_fixed},
    {"_token_fixed", l_auth_token_fixed}, {NULL, NULL},
};

static const luaL_Reg HMACV_METHODS[] = {{"verify", l_hmac_verify}, {NULL, NULL}};

static const luaL_Reg MSGV_METHODS[] = {
    {"verify", l_message_verify},
    {"release", l_message_release},
    {"window_ms", l_message_window},
    {"replay_cache", l_message_replay_cache},
    {NULL, NULL},
};

static const luaL_Reg STORE_METHODS[] = {{NULL, NULL}};

static const luaL_Reg CLIENT_METHODS[] = {
    {"query", l_client_query}, {"command", l_client_command}, {"request", l_client_request},
    {"call", l_client_call},   {"_start_query", l_start_query},
    {"_start_command", l_start_command}, {"_start_call", l_start_call},
    {"_start_request", l_start_request}, {"_rate", l_client_rate},
    {NULL, NULL},
};

static const luaL_Reg CALL_METHODS[] = {
    {"next", l_call_next},       {"token", l_call_token}, {"answer", l_call_answer},
    {"failure", l_call_failure}, {"result", l_call_result}, {NULL, NULL},
};

static const luaL_Reg RATE_METHODS[] = {{NULL, NULL}};

static const luaL_Reg *const METHODS[T_COUNT] = {KEY_METHODS, AUTH_METHODS, HMACV_METHODS,
                                                 MSGV_METHODS, CLIENT_METHODS, RATE_METHODS,
                                                 STORE_METHODS, CALL_METHODS};

static const luaL_Reg FUNCTIONS[] = {
    {"key_generate", l_key_generate},
    {"key_load", l_key_load},
    {"key_load_data", l_key_load_data},
    {"key_load_pem", l_key_load_pem},
    {"key_load_der", l_key_load_der},
    {"key_load_file", l_key_load_file},
    {"key_from_hex", l_key_from_hex},
    {"jwt_auth", l_jwt_auth},
    {"hmac_auth", l_hmac_auth},
    {"message_auth", l_message_auth},
    {"verify_jwt", l_verify_jwt},
    {"hmac_verifier", l_hmac_verifier},
    {"message_verifier", l_message_verifier},
    {"redis_replay_store", l_redis_replay_store},
    {"rpc_result", l_rpc_result},
    {"rpc_error", l_rpc_error},
    {"rpc_parse", l_rpc_parse},
    {"client", l_client},
    {"nginx_client", l_nginx_client},
    {"rate_take", l_rate_take},
    {"rate_refund", l_rate_refund},
    {"rate_answer_seen", l_rate_answer_seen},
    {"redis_rate_limit", l_redis_rate_limit},
    {"json_encode", l_json_encode},
    {"json_decode", l_json_decode},
    {"keccak256_hex", l_keccak256_hex},
    {NULL, NULL},
};

static void make_handle_type(lua_State *L, int type)
{
    luaL_newmetatable(L, TYPE_NAMES[type]);
    lua_newtable(L); /* methods */
    luaL_setfuncs(L, METHODS[type], 0);
    lua_pushinteger(L, type);
    lua_pushcclosure(L, handle_close, 1);
    lua_setfield(L, -2, "close");
    lua_setfield(L, -2, "__index");
    lua_pushinteger(L, type);
    lua_pushcclosure(L, handle_close, 1);
    lua_setfield(L, -2, "__gc");
#if LUA_VERSION_NUM >= 504
    lua_pushinteger(L, type);
    lua_pushcclosure(L, handle_close, 1);
    lua_setfield(L, -2, "__close");
#endif
    lua_pushinteger(L, type);
    lua_pushcclosure(L, handle_tostring, 1);
    lua_setfield(L, -2, "__tostring");
    lua_pushstring(L, TYPE_NAMES[type]); /* luaL_newmetatable sets it on 5.4 only */
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
}

#if defined(__GNUC__)
__attribute__((visibility("default")))
#endif
int luaopen_walletsign_core(lua_State *L)
{
    for (int t = 0; t < T_COUNT; t++)
        make_handle_type(L, t);

    luaL_newmetatable(L, SCRATCH_MT);
    lua_pushcfunction(L, scratch_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);

    luaL_newmetatable(L, ERROR_MT);
    lua_pushcfunction(L, error_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);

    luaL_newmetatable(L, RESPONSE_MT);
    lua_newtable(L);
    lua_pushcfunction(L, l_response_json);
    lua_setfield(L, -2, "json");
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);

    luaL_newmetatable(L, ARRAY_MT);
    lua_pop(L, 1);

    lua_newtable(L); /* VERIFIED_KEY: weak keys, so a result's entry goes with it */
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, VERIFIED_KEY);

    lua_newtable(L);
    luaL_setfuncs(L, FUNCTIONS, 0);
    lua_pushlightuserdata(L, NULL);
    lua_setfield(L, -2, "null");
    luaL_getmetatable(L, ARRAY_MT);
    lua_setfield(L, -2, "array_mt");
    luaL_getmetatable(L, ERROR_MT);
    lua_setfield(L, -2, "error_mt");
    lua_pushstring(L, wsig_version());
    lua_setfield(L, -2, "version");
    return 1;
}
