/**
 * @file mapfile/gen.h
 * @brief Annotations for `mapf gen`, which writes a codec from a C struct.
 *
 * Put these after a field's declarator in the header you give `mapf gen`:
 *
 * @code
 * #include <mapfile/gen.h>
 * struct track {
 *     uint32_t nhits;
 *     double *hits MF_COUNT(nhits);     // nhits doubles, or NULL when 0
 *     void *cache MF_SKIP;              // never streamed; zero when read
 *     const struct track_ops *ops MF_OPS; // set by track_set_ops() on read
 * };
 * @endcode
 *
 * They expand to `__attribute__((annotate(...)))`, which only clang knows
 * (it is how libclang shows them to `mapf gen`); other compilers see
 * nothing, so the header builds unchanged everywhere, warnings on.
 */
#ifndef MAPFILE_GEN_H
#define MAPFILE_GEN_H

#if defined(__clang__)
#define MF__GEN_ANNOTATE(text) __attribute__((annotate(text)))
#else
#define MF__GEN_ANNOTATE(text)
#endif

/** The field is a pointer to an array of `FIELD` elements, FIELD being an
 *  integer field of the same struct (before or after this one). A NULL
 *  pointer is allowed when the count is 0. On read the count field is set
 *  from the array's length. */
#define MF_COUNT(field) MF__GEN_ANNOTATE("mf_count:" #field)
/** The field is never streamed; a decoded object has it zeroed. */
#define MF_SKIP MF__GEN_ANNOTATE("mf_skip")
/** A function-pointer table (or a function pointer): never streamed. The
 *  decoded object gets it from the user hook `void CLASS_set_ops(struct
 *  NAME *obj)`, so every consumer uses its own functions. */
#define MF_OPS MF__GEN_ANNOTATE("mf_ops")

#endif /* MAPFILE_GEN_H */
