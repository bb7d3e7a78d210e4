/* call.c - `mapf call FILE NAME METHOD [ARG...]`: rebuild an object and
 * call one of its class's methods through libffi (mf_call). */
#include "mapf.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Split a signature "R(o,A,B)" into its return letter and argument letters
 * after the object. Returns the number of arguments, or -1 if malformed. */
static int parse_signature(const char *sig, char *ret, char *argl, size_t cap)
{
    size_t n = 0;
    if (!sig || !sig[0] || sig[1] != '(' || sig[2] != 'o')
        return -1;
    *ret = sig[0];
    const char *p = sig + 3;
    while (*p == ',') {
        if (!p[1] || p[1] == ',' || p[1] == ')' || n >= cap)
            return -1;
        argl[n++] = p[1];
        p += 2;
    }
    if (p[0] != ')' || p[1] != '\0')
        return -1;
    return (int)n;
}

static const char *type_word(char t)
{
    switch (t) {
    case 'i':
        return "a signed integer";
    case 'u':
        return "an unsigned integer";
    case 'd':
        return "a number";
    case 's':
        return "a string";
    }
    return "a value of an unsupported type";
}

/* Parse @p s as a whole for type letter @p t into @p v; 0 or -1. */
static int parse_arg(char t, const char *s, mf_value *v)
{
    char *end;
    /* strto* skip leading blanks and strtoull wraps "-1": the whole string
     * must be the number. */
    int starts_ok = s[0] && !(s[0] == ' ' || (s[0] >= '\t' && s[0] <= '\r'));
    errno = 0;
    switch (t) {
    case 'i':
        v->type = MF_T_I64;
        v->v.i = strtoll(s, &end, 10);
        return starts_ok && !*end && !errno ? 0 : -1;
    case 'u':
        v->type = MF_T_U64;
        if (s[0] == '-' || s[0] == '+')
            return -1;
        v->v.u = strtoull(s, &end, 10);
        return starts_ok && !*end && !errno ? 0 : -1;
    case 'd':
        v->type = MF_T_F64;
        v->v.d = strtod(s, &end);
        /* Underflow to a tiny value is fine; overflow is not. */
        if (errno == ERANGE && fabs(v->v.d) < 1.0)
            errno = 0;
        return starts_ok && !*end && !errno ? 0 : -1;
    case 's':
        v->type = MF_T_STR;
        v->v.s = s;
        return 0;
    }
    return -1;
}

static void list_methods(const mf_method_info *m, int n, const char *cname)
{
    if (n <= 0) {
        fprintf(stderr, "class '%s' has no methods\n", cname);
        return;
    }
    fprintf(stderr, "methods of class '%s':\n", cname);
    for (int i = 0; i < n; i++) {
        fputs("  ", stderr);
        fput_safe(m[i].name, stderr);
        fputc(' ', stderr);
        fput_safe(m[i].signature, stderr);
        fputc('\n', stderr);
    }
}

static void print_value(const mf_value *v)
{
    switch (v->type) {
    case MF_T_I64:
        printf("%" PRId64 "\n", v->v.i);
        break;
    case MF_T_U64:
        printf("%" PRIu64 "\n", v->v.u);
        break;
    case MF_T_F64:
        printf("%.17g\n", v->v.d);
        break;
    case MF_T_STR:
        printf("%s\n", v->v.s ? v->v.s : "");
        break;
    default:
        break; /* void */
    }
}

/* Find, check and call the method; the object is the caller's. */
static int call_method(const char *path, const char *name, const mf_class *cls,
                       void *obj, const char *method, int nargs,
                       const char *const *argv)
{
    const mf_method_info *m = NULL;
    char cname[MF_CLASS_NAME_MAX + 1];
    char ret, argl[64];
    mf_value vals[64], result;
    sanitize(cname, sizeof cname, cls->name);
    int nm = mf_class_methods(cls, &m);
    if (nm < 0) {
        report_mf(path, name, nm);
        return EXIT_MISSING;
    }
    const mf_method_info *mi = NULL;
    for (int i = 0; i < nm; i++)
        if (m[i].name && strcmp(m[i].name, method) == 0)
            mi = &m[i];
    if (!mi) {
        errorf(path, "%s: class '%s' has no method '%s'", name, cname, method);
        list_methods(m, nm, cname);
        return EXIT_USAGE;
    }
    int want = parse_signature(mi->signature, &ret, argl, sizeof argl);
    if (want < 0) {
        errorf(path, "%s: method '%s' of class '%s' has a malformed signature",
               name, method, cname);
        return EXIT_MISSING;
    }
    if (nargs != want) {
        errorf("call", "%s %s takes %d argument%s, got %d", method, mi->signature,
               want, want == 1 ? "" : "s", nargs);
        return EXIT_USAGE;
    }
    for (int i = 0; i < nargs; i++) {
        if (parse_arg(argl[i], argv[i], &vals[i]) != 0) {
            errorf("call", "%s %s: argument %d '%s' is not %s", method,
                   mi->signature, i + 1, argv[i], type_word(argl[i]));
            return EXIT_USAGE;
        }
    }
    memset(&result, 0, sizeof result);
    int rc = mf_call(cls, obj, method, vals, (size_t)nargs, &result);
    if (rc < 0) {
        report_mf(path, name, rc);
        return (rc == MF_EARGS || rc == MF_ENOMETHOD) ? EXIT_USAGE : EXIT_MISSING;
    }
    print_value(&result);
    return EXIT_OK;
}

static int run_call(const mapf_args *a)
{
    const char *path = a->pos[0], *name = a->pos[1], *method = a->pos[2];
    mf_file *mf;
    void *obj;
    const mf_class *cls;
    if (a->npos - 3 > 64)
        return usage_error(a->cmd, "too many method arguments");
    if (open_read(&mf, path, 0))
        return EXIT_USAGE;
    int status = get_object(mf, path, name, &obj, &cls);
    if (status == 0) {
        status = call_method(path, name, cls, obj, method, a->npos - 3, a->pos + 3);
        mf_object_free(cls, obj);
    }
    mf_close(mf);
    return finish_stdout(status);
}

const mapf_command mapf_cmd_call = {
    .name = "call",
    .run = run_call,
    .min_pos = 3,
    .max_pos = -1,
    .literal_after = 3,
    .synopsis = "FILE NAME METHOD [ARG...]",
    .help = "Rebuild the object NAME and call METHOD on it. Each ARG is parsed by\n"
            "the method's signature (i: integer, u: unsigned, d: number, s: string)\n"
            "and the result is printed (doubles with 17 significant digits).\n"
            "Arguments after METHOD are never options, so negative numbers work.\n"
            "Exit 2 for an unknown method or wrong arguments.\n",
};
