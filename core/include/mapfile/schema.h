/**
 * @file mapfile/schema.h
 * @brief Wire schemas that travel in the map file, and emulated reading:
 *        decoding an object to JSON without its codec plugin.
 *
 * A codec written by `mapf gen` carries the wire schema of the class
 * version it writes (#mf_class `schema`, ABI 1.2). The first time a
 * producer's handle puts an object of such a class (mf_put(), mf_update(),
 * mf_batch_put()), the core stores that schema once in the file, in the
 * reserved record `.mapfile/schema/CLASS@VERSION` of class
 * #MF_SCHEMA_CLASS. A handle stores it at most once, and only when the file
 * does not already hold the same bytes, so restarting producers leave it
 * alone. Readers that lack the plugin (`mapf get --json`, `mapf dump`, the
 * web view and Python later) decode such objects with
 * mf_get_emulated_json(): JSON only, read-only, byte for byte what the
 * generated codec's to_json writes.
 *
 * ## Reserved names
 * Record names starting with #MF_RESERVED_PREFIX (".mapfile/") belong to
 * mapfile. mf_put(), mf_add() and mf_batch_put() refuse them (#MF_ENAME);
 * mf_put_raw() and mf_batch_put_raw() accept them only with class
 * #MF_SCHEMA_CLASS, so tools that copy raw records (mapf copy, mirror) keep
 * the schemas. They are listed like any record (mapf ls shows them under
 * ".mapfile/"), and may be removed.
 *
 * ## Format (version 1)
 * All counts are LEB128 varints (as mf_w_varint()); "u8" is one byte.
 * @verbatim
 *   "MFSC"            magic, 4 bytes
 *   u8 format         1
 *   varint nrec       1..MF_SCHEMA_MAX_RECORDS
 *   nrec records, innermost first; the last one is the class's struct:
 *     varint nfields  0..MF_SCHEMA_MAX_FIELDS
 *     nfields fields, in wire (declaration) order:
 *       varint len, name   1..127 bytes of [A-Za-z_][A-Za-z0-9_]*
 *       u8 kind            1 value, 2 string, 3 counted, 4 optional, 5 count
 *       value:    u8 elem, [varint rec], u8 ndims (0..8), ndims varint dims
 *       string:   nothing more
 *       counted:  u8 elem, [varint rec], varint index of its count field
 *       optional: varint rec
 *       count:    u8 elem (an integer type)
 * @endverbatim
 * `elem` is 0 for a nested struct (then `rec`, the index of an earlier
 * record, follows) or a scalar type: 1 u8, 2 i8, 3 u16, 4 i16, 5 u32,
 * 6 i32, 7 u64, 8 i64, 9 f32, 10 f64, 11 bool.
 *
 * The payload layout each kind describes is the generated codec's:
 * - value: the elements of the fixed array (one if ndims is 0), row-major,
 *   each a little-endian scalar or a nested struct;
 * - string: a presence byte (0 or 1), then a string (varint length, bytes,
 *   no NUL); JSON null when absent;
 * - counted: a varint count, then the elements; the first counted field
 *   naming a count field sets its value, later ones must agree;
 * - optional: a presence byte, then the struct; JSON null when absent;
 * - count: nothing on the wire (its value is the length of its arrays), but
 *   it appears in the JSON where it is declared.
 * Fields that never travel (MF_SKIP, MF_OPS) are not in the schema.
 *
 * ## Hostile bytes
 * A stored schema is read like every other byte of the file: every length,
 * index and count is bounded, records only refer to earlier records (no
 * cycles; nesting depth is at most #MF_SCHEMA_MAX_RECORDS), names are
 * checked, fixed arrays are capped (#MF_SCHEMA_MAX_ELEMS elements in a
 * record), trailing bytes are refused, and decoding a payload does bounded
 * work (the payload's size bounds every count). A bad schema is
 * #MF_ECORRUPT with mf_errdetail() saying what is wrong and where.
 */
#ifndef MAPFILE_SCHEMA_H
#define MAPFILE_SCHEMA_H

#include <mapfile/mapfile.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Format version of the schemas this library writes and reads. */
#define MF_SCHEMA_FORMAT 1
/** Class name of the records that hold schemas. */
#define MF_SCHEMA_CLASS "mapfile.schema"
/** Prefix of every record name reserved for mapfile. */
#define MF_RESERVED_PREFIX ".mapfile/"
/** Prefix of the schema records: ".mapfile/schema/CLASS@VERSION". */
#define MF_SCHEMA_PREFIX ".mapfile/schema/"
/** Most records (structs) in one schema; also the deepest nesting. */
#define MF_SCHEMA_MAX_RECORDS 64
/** Most fields in one record. */
#define MF_SCHEMA_MAX_FIELDS 4096
/** Most elements the fixed arrays of one record may expand to. */
#define MF_SCHEMA_MAX_ELEMS (1u << 24)

/**
 * Check that @p size bytes at @p schema are a valid schema.
 * @return 0, #MF_EINVAL (NULL schema), #MF_ECORRUPT (mf_errdetail() names
 *         the problem and its byte offset), #MF_ENOMEM
 */
MF_API int mf_schema_check(const void *schema, size_t size);

/**
 * Decode @p payload by @p schema and append it to @p w as one JSON object,
 * the bytes the generated codec's to_json writes. @p payload must not
 * change during the call (pass a private copy, e.g. from
 * mf_get_raw_alloc()). On failure @p w may hold a partial object.
 * @return 0, #MF_EINVAL, #MF_ECORRUPT (bad schema), #MF_ECODEC (the
 *         payload does not match the schema; the detail names the wire
 *         error), #MF_ENOMEM (or the writer could not grow)
 */
MF_API int mf_schema_to_json(const void *schema, size_t schema_size,
                             const void *payload, size_t payload_size,
                             mf_writer *w);

/**
 * The name of the record holding the schema of @p class_name at
 * @p version: ".mapfile/schema/CLASS@VERSION".
 * @return 0, #MF_ENAME (bad class name), #MF_ETOOSMALL (@p cap too small)
 */
MF_API int mf_schema_record_name(char *buf, size_t cap, const char *class_name,
                                 uint32_t version);

/**
 * Emulated read: decode the record @p name with the schema its producer
 * stored in the file, without its codec, and append it to @p w as JSON
 * (what the class's generated to_json writes). The object is JSON only:
 * there is no local object, no method, nothing to write back.
 * @param[out] info  the record's header (may be NULL)
 * @return 0, #MF_ENOTFOUND (no such record), #MF_ENOCODEC (the file holds
 *         no schema for its class and version), #MF_ECORRUPT (the stored
 *         schema is invalid: the detail names the schema record),
 *         #MF_ECODEC, #MF_ECHECKSUM, #MF_EBUSY, #MF_EREPLACED, #MF_ENOMEM,
 *         #MF_EINVAL, #MF_ENAME
 */
MF_API int mf_get_emulated_json(mf_file *mf, const char *name, mf_writer *w,
                                mf_record_info *info);

#ifdef __cplusplus
}
#endif

#endif /* MAPFILE_SCHEMA_H */
