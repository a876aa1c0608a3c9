/* Every test group, one line each; a new file adds its groups here. */
#ifndef WSIG_TESTS_H
#define WSIG_TESTS_H

#define WSIG_TEST_GROUPS \
    X(test_known_answers)

#define X(name) void name(void);
WSIG_TEST_GROUPS
#undef X

#endif
