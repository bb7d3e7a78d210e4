/*
 * failing.c - a plugin that loads fine but whose class "tp.failing_in"
 * cannot read anything back: stream_out works, stream_in always fails.
 * Used to test that a codec failure at get time is reported cleanly.
 */
#include <mapfile/codec.h>

static int fail_out(const void *obj, mf_writer *w)
{
    (void)obj;
    mf_w_u32(w, 0xfa11u);
    return w->err ? -1 : 0;
}

static void *fail_in(mf_reader *r, uint32_t version)
{
    (void)version;
    mf_r_fail(r, MF_WIRE_CODEC);
    return NULL;
}

static void fail_destroy(void *obj) { (void)obj; }

static const mf_class failing_class = {
    sizeof(mf_class), "tp.failing_in", 1, 1, fail_out, fail_in, fail_destroy,
    NULL, NULL, NULL,
 NULL, NULL, NULL, 0};

MF_DEFINE_PLUGIN(failing, &failing_class)
