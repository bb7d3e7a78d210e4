/* fuzz_schema.c - libFuzzer harness for stored wire schemas (issue 18,
 * mapfile/schema.h): the parser and the interpreter that decodes a payload
 * by schema into JSON (emulated reading).
 *
 * Input: a little-endian u16 L, then L bytes of schema (fewer if the input
 * ends), then the payload.
 *
 * The contract checked (abort on a breach):
 * - mf_schema_check() and mf_schema_to_json() never read outside their
 *   inputs (ASan), never hang, and return only 0, MF_ECORRUPT (bad schema,
 *   with a detail), MF_ECODEC (payload unlike the schema) or MF_ENOMEM;
 * - both agree on whether the schema is valid;
 * - a decoded object is one JSON object: it starts with '{', ends with '}'
 *   and its brackets and quotes balance. */
#include "fuzz_writer.h"
#include <mapfile/schema.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void breach(const char *what)
{
    fprintf(stderr, "schema contract broken: %s (%s)\n", what, mf_errdetail());
    abort();
}

/* Brackets and braces balance outside strings; strings close. */
static int balanced(const unsigned char *s, size_t n)
{
    long depth = 0;
    int in_str = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
            else if (c < 0x20)
                return 0;
            continue;
        }
        if (c == '"')
            in_str = 1;
        else if (c == '{' || c == '[')
            depth++;
        else if ((c == '}' || c == ']') && --depth < 0)
            return 0;
    }
    return depth == 0 && !in_str;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t l = (size_t)data[0] | (size_t)data[1] << 8;
    if (l > size - 2)
        l = size - 2;
    /* Exact-size copies, so any overread is caught. */
    unsigned char *schema = malloc(l ? l : 1), *payload = malloc(size - 2 - l + 1);
    if (!schema || !payload)
        abort();
    memcpy(schema, data + 2, l);
    memcpy(payload, data + 2 + l, size - 2 - l);
    int check = mf_schema_check(schema, l);
    if (check != 0 && check != MF_ECORRUPT && check != MF_ENOMEM)
        breach("mf_schema_check returned an unexpected code");
    if (check == MF_ECORRUPT && !strstr(mf_errdetail(), "schema"))
        breach("a bad schema without a detail");
    mf_writer w = {.reserve = fz_reserve};
    int rc = mf_schema_to_json(schema, l, payload, size - 2 - l, &w);
    if (rc != 0 && rc != MF_ECORRUPT && rc != MF_ECODEC && rc != MF_ENOMEM)
        breach("mf_schema_to_json returned an unexpected code");
    if ((check == MF_ECORRUPT) != (rc == MF_ECORRUPT))
        breach("mf_schema_check and mf_schema_to_json disagree");
    if (rc == 0 && (w.len < 2 || w.buf[0] != '{' || w.buf[w.len - 1] != '}' ||
                    !balanced(w.buf, w.len)))
        breach("the JSON is not one balanced object");
    free(w.buf);
    free(schema);
    free(payload);
    return 0;
}
