/* testplugins.h - where the test plugins of tests/plugins are built, and
 * the classes they define. Include as "plugins/testplugins.h". */
#ifndef MF_TESTPLUGINS_H
#define MF_TESTPLUGINS_H

#include <stdint.h>

#define MF_TP_ROOT MF_TEST_BUILD_DIR "/tests/plugins"

/* tp_alpha.so (tp.alpha, tp.shared v3) and tp_failing.so (tp.failing_in) */
#define MF_TP_GOOD1 MF_TP_ROOT "/good1"
/* tp_beta.so (tp.beta, tp.shared v7) */
#define MF_TP_GOOD2 MF_TP_ROOT "/good2"
/* a_beta.so then b_alpha.so: tp.shared v7 wins by name order */
#define MF_TP_BOTH MF_TP_ROOT "/both"
/* every broken plugin, a non-ELF x.so, and good gamma.so / zz_last.so */
#define MF_TP_MIXED MF_TP_ROOT "/mixed"

/* tp_sigbus_in.so (tp.sigbus_in: stream_in reads a page of a file it
 * truncated: SIGBUS) and tp_sigbus_entry.so (tp.sigbus_entry: its plugin
 * entry does the same while the registry loads it). Objects: one int64. */
#define MF_TP_SIGBUS_IN MF_TP_ROOT "/sigbus_in"
#define MF_TP_SIGBUS_ENTRY MF_TP_ROOT "/sigbus_entry"

/* Loads fine; stream_out writes 4 bytes; stream_in always fails with
 * MF_WIRE_CODEC. For get-time codec failure tests. */
#define MF_TP_FAILING_CLASS "tp.failing_in"

/* Object of tp.alpha, tp.beta, tp.gamma, tp.last and tp.shared: one int64,
 * streamed as 8 bytes. Methods: who s(o), static_who s(o), value i(o). */
typedef struct mf_tp_obj {
    int64_t v;
} mf_tp_obj;

#endif
