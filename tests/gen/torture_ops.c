/*
 * torture_ops.c - the consumer's hook for torture's MF_OPS field, built
 * into the generated plugin (its CMakeLists.txt takes CLASS_ops.c when it
 * is there): every decoded object gets this process's own table.
 */
#include "torture.h"

void torture_set_ops(struct torture *obj);

/* Something the test can check came from here: nsamples + 1. */
static int consumer_describe(const void *obj)
{
    return (int)((const struct torture *)obj)->nsamples + 1;
}

static const struct torture_ops consumer_ops = {consumer_describe};

void torture_set_ops(struct torture *obj)
{
    obj->ops = &consumer_ops;
}
