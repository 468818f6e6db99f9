/* Reads lines {"schema": S, "instances": [...]} and prints, per line, one 0/1 verdict per
 * instance, or "E message" when S does not compile. For tests/jsonschema_diff/diff.py. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include "core/jsonschema.h"
int main(void)
{
    static char line[1 << 20];
    while (fgets(line, sizeof line, stdin)) {
        json_error_t je;
        json_t *d = json_loads(line, 0, &je);
        if (!d) {
            printf("P %s\n", je.text);
            fflush(stdout);
            continue;
        }
        char err[512];
        sy_jschema_t *s = sy_jschema_compile(json_object_get(d, "schema"), err, sizeof err);
        if (!s) {
            printf("E %s\n", err);
            fflush(stdout);
            json_decref(d);
            continue;
        }
        json_t *ins = json_object_get(d, "instances");
        for (size_t i = 0; i < json_array_size(ins); i++) {
            sy_jschema_error_t e[1];
            size_t n = sy_jschema_validate(s, json_array_get(ins, i), e, 1);
            putchar(n ? '0' : '1');
        }
        putchar('\n');
        fflush(stdout);
        sy_jschema_free(s);
        json_decref(d);
    }
}
