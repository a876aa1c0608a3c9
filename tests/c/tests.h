/* Every test group, one line each; a new file adds its groups here. */
#ifndef WSIG_TESTS_H
#define WSIG_TESTS_H

#define WSIG_TEST_GROUPS \
    X(test_known_answers) \
    X(test_secrets) \
    X(test_keys) \
    X(test_hmac) \
    X(test_keccak) \
    X(test_message) \
    X(test_message_threads) \
    X(test_jwt) \
    X(test_rpc) \
    X(test_options) \
    X(test_json_api) \
    X(test_client) \
    X(test_client_wire) \
    X(test_client_tls) \
    X(test_pool) \
    X(test_rate_limit) \
    X(test_rate_limit_redis) \
    X(test_redis) \
    X(test_redis_outage)

#define X(name) void name(void);
WSIG_TEST_GROUPS
#undef X

#endif
