/* Runs every C test group; the last line is "N passed, M failed". */
#include "testlib.h"
#include "tests.h"

#include <string.h>

static const test_case groups[] = {
#define X(name) {#name, name},
    WSIG_TEST_GROUPS
#undef X
};

int main(int argc, char **argv)
{
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) {
        if (argc > 1 && !strstr(groups[i].name, argv[1]))
            continue;
        t_current = groups[i].name;
        int before = t_failed;
        groups[i].fn();
        fprintf(stderr, "%-40s %s\n", groups[i].name, t_failed == before ? "ok" : "FAILED");
    }
    printf("%d passed, %d failed\n", t_passed, t_failed);
    return t_failed ? 1 : 0;
}
