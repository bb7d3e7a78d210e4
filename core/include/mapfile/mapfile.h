/**
 * @file mapfile/mapfile.h
 * @brief libmapfile: share live, named objects between processes through one
 *        memory-mapped file.
 *
 * A producer opens a map file for writing, adds objects under names and
 * calls mf_update() when they change. The core streams each object through
 * its class's codec (see mapfile/codec.h) into a heap inside the file.
 * Consumers in other processes open the same file read-only and get back
 * fresh local objects rebuilt by their own copy of the codec.
 *
 * ## Conventions
 * - Every function returns 0 on success or a negative `MF_E*` code; see
 *   mf_strerror(). A failed call leaves nothing to clean up.
 * - mf_errdetail() gives a longer, thread-local message about the last
 *   failure in the calling thread (which record, class, file, path...).
 * - Handles are opaque. Every pointer returned into library memory says how
 *   long it stays valid.
 * - Readers never lock and never write: a consumer needs only read
 *   permission on the file.
 *
 * ## Hostile files
 * Every offset, size, count and link read from a file is checked before
 * use; loops over lists and chains are bounded. A damaged file gives
 * #MF_ECORRUPT only for a state that stays put (never for one a live writer
 * passes through), and #MF_EBUSY only while live writers keep changing
 * what is read. A file truncated while a reader has it mapped would raise
 * SIGBUS: the read functions (mf_get, mf_get_raw, mf_stat, mf_iter_next,
 * mf_check, mf_wait, mf_file_stat, mf_get_snapshot, mf_txn_*) catch it with
 * a process-wide SIGBUS handler, installed on first use, and return
 * #MF_ECORRUPT. The handler acts only on faults inside this library's own
 * mappings during such a call; any other SIGBUS (a plugin's or the
 * application's own file) goes to the handler installed before ours, or
 * the default. If it happens inside a codec's stream_in, the partial object
 * it allocated is leaked. Writers are not protected this way: a file that
 * another process truncates under a writing handle is destroyed anyway,
 * and the write dies with SIGBUS.
 *
 * ## Crashes
 * Every change is a batch that becomes visible by one store, so a writer
 * killed at any instant leaves the file exactly as before the change or
 * exactly as after it: readers go on without it. The next writer repairs
 * what the dead one left half done (mf_open for writing does it first). A
 * writer never waits forever on a lock whose holder is gone, even when the
 * kernel cannot know it (a file copied or restored while locked, a host
 * that crashed): holders are identified by pid, start time, pid namespace,
 * boot and file.
 *
 * ## Threads
 * One #mf_file may be used by many threads at once: gets, stats, iteration
 * and waits are lock-free; adds, updates and removes are serialized by the
 * writer lock in the file, which also serializes other processes. After
 * fork(), the child may go on using a handle only if no other thread was
 * writing through it at the fork (its producer lock would stay taken);
 * reading is always fine, and a handle opened in the child always works.
 */
#ifndef MAPFILE_MAPFILE_H
#define MAPFILE_MAPFILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <mapfile/codec.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(MAPFILE_STATIC)
#define MF_API
#elif defined(MAPFILE_BUILDING)
#define MF_API __attribute__((visibility("default")))
#else
#define MF_API
#endif

/** Library version. */
#define MF_VERSION_MAJOR 0
#define MF_VERSION_MINOR 1
#define MF_VERSION_PATCH 0

/** Version of the on-disk format this library reads and writes. */
#define MF_FORMAT_VERSION 2

/** Longest record name in bytes, without the NUL. Names may be paths
 *  ("det/tpc/occupancy"); they must not be empty or contain control
 *  characters. Names starting with ".mapfile/" are reserved for mapfile's
 *  own records (stored class schemas, see mapfile/schema.h): mf_put(),
 *  mf_add() and mf_batch_put() refuse them with #MF_ENAME. */
#define MF_NAME_MAX 255

/** Default initial file size: 512 KiB, like TMapFile's kDefaultMapSize. */
#define MF_DEFAULT_SIZE (512u * 1024u)

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

/** X-macro of every error: name, value, message. */
#define MF_ERRNO_MAP(XX)                                                      \
    XX(EINVAL, -1, "invalid argument")                                        \
    XX(ENOMEM, -2, "out of memory")                                           \
    XX(ESYS, -3, "system call failed")                                        \
    XX(EEXIST, -4, "map file already exists")                                 \
    XX(ENOENT, -5, "map file does not exist")                                 \
    XX(EACCES, -6, "permission denied")                                       \
    XX(ENOTMAPFILE, -7, "not a map file")                                     \
    XX(EVERSION, -8, "unsupported map file format version")                   \
    XX(ECORRUPT, -9, "map file is corrupt")                                   \
    XX(ENOTFOUND, -10, "no record with that name")                            \
    XX(ENOCODEC, -11, "no codec for class")                                   \
    XX(ECODEC, -12, "codec failed")                                           \
    XX(ECHECKSUM, -13, "record checksum mismatch")                            \
    XX(EFULL, -14, "map file full")                                           \
    XX(EREADONLY, -15, "map file is open read-only")                          \
    XX(ECLASSVERSION, -16, "class version not readable by this codec")        \
    XX(EPLUGIN, -17, "plugin failed to load")                                 \
    XX(EABI, -18, "plugin ABI mismatch")                                      \
    XX(ENAME, -19, "invalid name")                                            \
    XX(ETIMEDOUT, -20, "timed out")                                           \
    XX(EREPLACED, -21, "map file was replaced or retired")                    \
    XX(EBUSY, -22, "too much concurrent change, try again")                   \
    XX(ENOMETHOD, -23, "no such method")                                      \
    XX(EARGS, -24, "wrong arguments for method")                              \
    XX(ESIGNATURE, -25, "invalid method signature")                           \
    XX(EDUPLICATE, -26, "class already registered")                           \
    XX(ECLASS, -27, "class does not match")                                   \
    XX(ESNAPSHOT, -28, "snapshot changed while reading, retry")           \
    XX(ETOOSMALL, -29, "buffer too small")                                    \
    XX(ELOCKABI, -30, "writer lock made by another C library or word size")

/** Error codes. */
typedef enum mf_errno {
    MF_OK = 0,
#define MF__ERR_ENUM(name, val, msg) MF_##name = val,
    MF_ERRNO_MAP(MF__ERR_ENUM)
#undef MF__ERR_ENUM
} mf_errno;

/** Short fixed message for an error code ("unknown error" if unknown). */
MF_API const char *mf_strerror(int err);
/** Symbolic name of an error code, e.g. "MF_ENOTFOUND". */
MF_API const char *mf_err_name(int err);
/**
 * A longer message about the last failure in this thread, naming what is
 * at fault (record, class, file, search path). Valid until the next mapfile
 * call in this thread. Empty string if there is none.
 */
MF_API const char *mf_errdetail(void);

/* ------------------------------------------------------------------------ */
/* Registry of codecs                                                       */
/* ------------------------------------------------------------------------ */

/** A set of codecs: in-process classes plus plugins found on a path. */
typedef struct mf_registry mf_registry;

/**
 * Create a registry.
 *
 * ## Search order for a class name (first match wins)
 * 1. classes registered in-process with mf_registry_add_class();
 * 2. plugins in the directories of `MAPFILE_PLUGIN_PATH` (colon-separated,
 *    read once at creation), in order;
 * 3. directories added with mf_registry_add_path(), in the order added;
 * 4. the install plugin directory: `mapfile/plugins` beside the
 *    libmapfile.so in use (found at run time, so a moved install finds its
 *    own plugins; in mapfile's build tree, its `lib/mapfile/plugins`). A
 *    program linked with libmapfile.a cannot know where the library came
 *    from and searches the directory configured when mapfile was built.
 *
 * Within a directory, `*.so` files are tried in name order. A class found
 * again later in the order is recorded as *shadowed* and never used.
 *
 * ## Laziness
 * Nothing is loaded at creation. A lookup that misses the classes known so
 * far loads plugins in search order until the class is found. Listing
 * (mf_registry_list()) loads everything. Plugins are dlopen'ed with
 * RTLD_NOW | RTLD_LOCAL and stay loaded until mf_registry_free().
 *
 * ## Names
 * Class names are checked: 1 to 127 bytes of letters, digits and `_ . : -`.
 * A name read from a map file is only ever compared with loaded classes,
 * never turned into a path.
 *
 * @param[out] out  the new registry; free it with mf_registry_free()
 * @return 0, #MF_ENOMEM
 */
MF_API int mf_registry_create(mf_registry **out);
/** Free a registry and unload its plugins. Objects made by its codecs must
 *  be destroyed first. NULL is ignored. */
MF_API void mf_registry_free(mf_registry *reg);
/**
 * The process-wide default registry, created on first use, used by any
 * #mf_file opened without its own. Never free it.
 */
MF_API mf_registry *mf_registry_default(void);
/**
 * Add a plugin directory (search step 3).
 * @return 0, #MF_EINVAL (NULL or empty), #MF_ENOMEM
 */
MF_API int mf_registry_add_path(mf_registry *reg, const char *dir);
/**
 * Register a class in-process (search step 1). @p cls must stay valid for
 * the registry's lifetime.
 * @return 0, #MF_EINVAL (NULL class or missing stream functions),
 *         #MF_ENAME (bad class name), #MF_EDUPLICATE (already in-process),
 *         #MF_ESIGNATURE (a method signature is malformed)
 */
MF_API int mf_registry_add_class(mf_registry *reg, const mf_class *cls);
/**
 * Register every class of a codec linked into the program (search step 1),
 * checked as a plugin file's descriptor is: the ABI, `struct_size` and each
 * class. All or nothing: on any error no class of @p plugin is registered.
 * A codec source built with `MF_CODEC_STATIC` defines
 * `mapfile_plugin_<name>()` (MF_DEFINE_PLUGIN()); pass what it returns:
 * @code
 * MF_DECLARE_PLUGIN(calib);
 * mf_registry_add_plugin(mf_registry_default(), mapfile_plugin_calib());
 * @endcode
 * @p plugin and its classes must stay valid for the registry's lifetime.
 * @return 0, #MF_EINVAL (NULL argument, too small a descriptor or class,
 *         missing stream functions), #MF_EABI (another ABI major, or a newer
 *         minor), #MF_ENAME (bad class name), #MF_EDUPLICATE (a class is
 *         listed twice or already registered in-process), #MF_ESIGNATURE
 *         (a method signature is malformed), #MF_ENOMEM
 */
MF_API int mf_registry_add_plugin(mf_registry *reg, const mf_plugin *plugin);
/**
 * Find the codec for a class name, loading plugins as needed.
 * @param[out] out  the class; valid for the registry's lifetime
 * @return 0, #MF_ENAME, #MF_ENOCODEC (mf_errdetail() names the class and
 *         every directory searched)
 */
MF_API int mf_registry_find(mf_registry *reg, const char *class_name,
                            const mf_class **out);

/** One class as seen by mf_registry_list(). */
typedef struct mf_registry_class {
    const char *name;     /**< class name */
    uint32_t version;     /**< version written */
    uint32_t min_version; /**< oldest version read */
    const mf_class *cls;  /**< the codec (NULL if shadowed) */
    int shadowed;         /**< non-zero: an earlier entry has this name */
    const char *shadowed_by; /**< path (or "in-process") that wins, if shadowed */
} mf_registry_class;

/** One plugin file (or the in-process set) as seen by mf_registry_list(). */
typedef struct mf_registry_plugin {
    const char *path;     /**< file path, or "in-process" */
    const char *name;     /**< plugin name from its descriptor, or NULL */
    int loaded;           /**< non-zero if it loaded */
    int error;            /**< MF_E* code when it failed to load */
    const char *error_msg;/**< why it failed to load, or NULL */
    uint16_t abi_major, abi_minor; /**< ABI it declared (0 if unknown) */
    size_t nclasses;
    const mf_registry_class *classes;
} mf_registry_plugin;

/**
 * Load every plugin on the search path and describe them all.
 * @param[out] plugins  array valid until the next registry call
 * @param[out] count    number of entries
 * @param[out] dirs     NULL-terminated search path in order (may be NULL)
 * @return 0, #MF_ENOMEM
 */
MF_API int mf_registry_list(mf_registry *reg,
                            const mf_registry_plugin **plugins, size_t *count,
                            const char *const **dirs);

/** One directory of a registry's search path, as seen by mf_registry_dirs(). */
typedef struct mf_registry_dir {
    const char *path; /**< the directory, as searched (may be relative) */
    /** Why it is searched: "MAPFILE_PLUGIN_PATH", "mf_registry_add_path",
     *  "install dir" (search step 4) or "build dir" (step 4 for a test
     *  program of mapfile's own build tree). */
    const char *kind;
} mf_registry_dir;

/**
 * The search path in order, with why each directory is on it. Scans and
 * loads nothing.
 * @param[out] dirs   array valid until the next mf_registry_dirs() or
 *                    mf_registry_add_path() on @p reg (the kind strings are
 *                    static)
 * @param[out] count  number of entries
 * @return 0, #MF_EINVAL (a NULL argument), #MF_ENOMEM
 */
MF_API int mf_registry_dirs(mf_registry *reg, const mf_registry_dir **dirs,
                            size_t *count);

/** Destroy an object returned by mf_get() with its class. NULL is ignored. */
MF_API void mf_object_free(const mf_class *cls, void *obj);

/* ------------------------------------------------------------------------ */
/* Opening and closing                                                      */
/* ------------------------------------------------------------------------ */

/** An open map file. */
typedef struct mf_file mf_file;

/** Open modes, TMapFile's options. */
typedef enum mf_mode {
    MF_READ = 1,     /**< existing file, read-only (O_RDONLY, PROT_READ) */
    MF_UPDATE = 2,   /**< existing file read-write; created if missing */
    MF_CREATE = 3,   /**< new file; fails with #MF_EEXIST if it exists */
    MF_NEW = 4,      /**< same as #MF_CREATE */
    MF_RECREATE = 5  /**< new file, atomically replacing any existing one */
} mf_mode;

/** mf_open_options.flags */
enum mf_open_flags {
    /** READ: when the file was replaced (producer RECREATE) or retired,
     *  gets and waits return #MF_EREPLACED instead of reopening it. */
    MF_OPEN_NO_FOLLOW_REPLACE = 1u << 0,
    /** UPDATE: fail with #MF_ENOENT instead of creating a missing file. */
    MF_OPEN_NO_CREATE = 1u << 2,
    /** Gets skip the checksum. A get is still never torn (its read window
     *  proves no writer reused what it read) and garbage still
     *  only gives codec errors (the reader is bounded), but damage to a
     *  payload at rest is no longer detected as #MF_ECHECKSUM. Saves one
     *  pass over the payload: the get of a 64 KiB blob is about twice as
     *  fast. mf_check() always verifies. */
    MF_OPEN_NO_VERIFY = 1u << 1
};

/** Options for mf_open(). Start from #MF_OPEN_OPTIONS_INIT. */
typedef struct mf_open_options {
    size_t struct_size;   /**< sizeof(mf_open_options) */
    uint64_t initial_size;/**< bytes; default #MF_DEFAULT_SIZE (min 64 KiB);
                               cut to max_size when above it */
    uint64_t max_size;    /**< growth limit in bytes; default 1 GiB (min
                               64 KiB) */
    unsigned file_mode;   /**< permission bits of a created file; 0644 */
    const char *title;    /**< title stored in a created file; "" */
    mf_registry *registry;/**< codecs; NULL means mf_registry_default() */
    int wait_ms;          /**< READ: wait up to this long for the file to
                               appear (-1 forever, 0 fail at once) */
    unsigned flags;       /**< #mf_open_flags */
} mf_open_options;

#define MF_OPEN_OPTIONS_INIT \
    {sizeof(mf_open_options), MF_DEFAULT_SIZE, 0, 0644, "", NULL, 0, 0}

/**
 * Open or create a map file.
 *
 * - #MF_NEW, #MF_CREATE: fail with #MF_EEXIST if @p path exists (the file is
 *   left untouched).
 * - #MF_RECREATE: build a new file and rename it over @p path. A map file
 *   that was there is marked *retired* first so its readers move on. A
 *   symlink at @p path is replaced, never followed.
 * - #MF_UPDATE: open read-write; create the file if it is missing.
 * - #MF_READ: open read-only; #MF_ENOENT if missing (unless wait_ms).
 *
 * A new file is fully initialised under a temporary name and only then
 * linked or renamed to @p path, so no reader ever sees a half-made header.
 * Opening checks every header field against the real file size.
 *
 * @param[out] out   the handle; close it with mf_close()
 * @param[in]  path  file path
 * @param[in]  mode  an #mf_mode
 * @param[in]  opts  options or NULL for defaults
 * #MF_EACCES wins over #MF_EEXIST when the directory is not writable.
 * @return 0, #MF_EINVAL, #MF_EEXIST, #MF_ENOENT, #MF_EACCES,
 *         #MF_ENOTMAPFILE, #MF_EVERSION, #MF_ECORRUPT, #MF_ETIMEDOUT,
 *         #MF_ESYS, #MF_ENOMEM
 */
MF_API int mf_open(mf_file **out, const char *path, int mode,
                   const mf_open_options *opts);

/**
 * Close a map file. Objects added with mf_add() are not updated or freed:
 * they belong to the caller. Data stays in the file for later readers.
 * NULL is ignored.
 * @return 0
 */
MF_API int mf_close(mf_file *mf);

/* ------------------------------------------------------------------------ */
/* Producing                                                                */
/* ------------------------------------------------------------------------ */

/**
 * Remember a local object under @p name for later mf_update() calls. Nothing
 * is written to the file yet (like TMapFile::Add). The object stays the
 * caller's; it must stay valid until mf_remove(), mf_remove_all() or
 * mf_close(). Adding a name again replaces the remembered object.
 * @return 0, #MF_EREADONLY, #MF_ENAME, #MF_ENOCODEC, #MF_EINVAL, #MF_ENOMEM,
 *         #MF_EBUSY (called from a codec's stream_out on this handle)
 */
MF_API int mf_add(mf_file *mf, const char *name, const char *class_name,
                  const void *obj);

/**
 * Stream a fresh copy of one added object into the file, or of every added
 * object when @p name is NULL. Updating all objects publishes them as one
 * batch: a snapshot reader sees all of them from this batch or all from an
 * earlier one, and a batch that fails (#MF_EFULL, say) publishes nothing.
 * Under the writer lock each object is encoded into a reusable buffer (sized
 * by the best-buffer estimate; in steady state no memory is allocated),
 * checksummed and copied into the file while its bytes are still in the
 * cache, one object at a time; a codec that fails stops the batch and frees
 * what was staged. Only the pointer swings at the end make the batch
 * visible, so readers are disturbed for microseconds. The codecs'
 * stream_out() runs while the lock is held: it must not write to this
 * file (through any handle); such a write fails at once with #MF_EBUSY
 * (writing to other files is fine).
 * @return 0, #MF_EREADONLY, #MF_ENOTFOUND (name was never added),
 *         #MF_ECODEC, #MF_EFULL (the file reached its maximum size; what was
 *         stored before is intact), #MF_ECORRUPT, #MF_ENOMEM, #MF_EBUSY
 *         (called from a codec's stream_out writing to this file)
 */
MF_API int mf_update(mf_file *mf, const char *name);

/**
 * Encode @p obj now and publish it under @p name, without remembering it.
 * @return as mf_update(), plus #MF_ENAME, #MF_ENOCODEC
 */
MF_API int mf_put(mf_file *mf, const char *name, const char *class_name,
                  const void *obj);

/**
 * Publish raw, already-encoded bytes as a record of @p class_name at
 * @p class_version. Used by tools and bridges; no codec is needed. A name
 * under ".mapfile/" is accepted only with class "mapfile.schema" (a copied
 * schema record), else #MF_ENAME.
 * @return as mf_put()
 */
MF_API int mf_put_raw(mf_file *mf, const char *name, const char *class_name,
                      uint32_t class_version, const void *data, size_t size);

/**
 * Remove a record and forget its added object. Its space goes back to the
 * heap at once.
 * @return 0, #MF_EREADONLY, #MF_ENOTFOUND, #MF_ECORRUPT, #MF_EBUSY (called
 *         from a codec's stream_out writing to this file)
 */
MF_API int mf_remove(mf_file *mf, const char *name);
/** Remove every record and every added object, as one batch. Stored
 *  schemas (records under `.mapfile/`, see mapfile/schema.h) are not objects
 *  and stay: remove one by name with mf_remove() if you must.
 *  @return 0, #MF_EREADONLY, #MF_ECORRUPT, #MF_EBUSY (as mf_remove()) */
MF_API int mf_remove_all(mf_file *mf);

/* ------------------------------------------------------------------------ */
/* Batches                                                                  */
/* ------------------------------------------------------------------------ */

/** A set of changes published all at once: see mf_batch_begin(). */
typedef struct mf_batch mf_batch;

/**
 * Start collecting changes (puts and removes of any names) to publish as
 * one batch. Nothing touches the file until mf_batch_commit(): the batch
 * owns copies of everything given to it. A reader sees all of a committed
 * batch or none of it, and so does the file after a crash at any point of
 * the commit (the batch commits with one store). Bridges that replay a
 * remote change log (mapf mirror) apply each remote batch this way.
 * @param[out] out  the batch: end it with mf_batch_commit() or
 *                  mf_batch_abort()
 * @return 0, #MF_EINVAL, #MF_EREADONLY, #MF_ENOMEM
 */
MF_API int mf_batch_begin(mf_file *mf, mf_batch **out);
/** Encode @p obj now (its class's codec) as the new value of @p name.
 *  @return 0, #MF_ENAME, #MF_ENOCODEC, #MF_ECODEC, #MF_EINVAL, #MF_ENOMEM */
MF_API int mf_batch_put(mf_batch *b, const char *name, const char *class_name,
                        const void *obj);
/** Raw, already-encoded bytes as the new value of @p name (copied).
 *  @return 0, #MF_ENAME, #MF_EINVAL, #MF_ENOMEM */
MF_API int mf_batch_put_raw(mf_batch *b, const char *name,
                            const char *class_name, uint32_t class_version,
                            const void *data, size_t size);
/** Remove @p name in this batch; removing a name the file does not hold is
 *  not an error. Of several changes of one name, the last one counts.
 *  @return 0, #MF_ENAME, #MF_ENOMEM */
MF_API int mf_batch_remove(mf_batch *b, const char *name);
/**
 * Publish every change of the batch at once and free the batch (also on
 * failure). On failure nothing of it is published.
 * @return 0, #MF_EINVAL, #MF_ECLASS (a put of another class than the
 *         stored record's), #MF_EFULL, #MF_ECORRUPT, #MF_ENOMEM, or the
 *         first error of a put or remove call made on it
 */
MF_API int mf_batch_commit(mf_batch *b);
/** Drop the batch without publishing anything. NULL is ignored. */
MF_API void mf_batch_abort(mf_batch *b);

/* ------------------------------------------------------------------------ */
/* Consuming                                                                */
/* ------------------------------------------------------------------------ */

/**
 * Get a new local object rebuilt from the record @p name by its codec.
 * The copy is consistent: the payload is checked against its generation and
 * checksum, and re-read if a writer changed it meanwhile.
 * @param[out] obj  new object; free with mf_object_free(*cls, *obj)
 * @param[out] cls  its codec (may be NULL if not wanted)
 * @return 0, #MF_ENOTFOUND, #MF_ENOCODEC, #MF_ECLASSVERSION, #MF_ECODEC,
 *         #MF_ECHECKSUM, #MF_ECORRUPT, #MF_EREPLACED, #MF_ENOMEM, #MF_ENAME,
 *         #MF_EBUSY (writers replaced the record on every one of many
 *         tries)
 */
MF_API int mf_get(mf_file *mf, const char *name, void **obj,
                  const mf_class **cls);

/** What is known about one record. */
typedef struct mf_record_info {
    char name[MF_NAME_MAX + 1];
    char class_name[MF_CLASS_NAME_MAX + 1];
    uint32_t class_version; /**< version the payload was written with */
    uint64_t size;          /**< payload bytes */
    uint64_t checksum;      /**< XXH3-64 of the payload */
    uint64_t generation;    /**< changes on every update of this record */
    uint64_t update_count;  /**< updates since the record was created */
    uint64_t update_time_ns;/**< CLOCK_REALTIME of the last update */
    uint64_t batch;         /**< batch number of the last update */
} mf_record_info;

/**
 * Copy a record's raw payload into @p buf. If @p cap is too small nothing is
 * copied, `info->size` tells the size needed and #MF_ETOOSMALL is returned.
 * Use mf_get_raw_alloc() to get a malloc'd copy instead.
 * @return 0, #MF_ENOTFOUND, #MF_ETOOSMALL, #MF_ECHECKSUM, #MF_ECORRUPT,
 *         #MF_EREPLACED, #MF_EBUSY
 */
MF_API int mf_get_raw(mf_file *mf, const char *name, void *buf, size_t cap,
                      mf_record_info *info);
/** Like mf_get_raw() into a new malloc'd buffer (free() it). */
MF_API int mf_get_raw_alloc(mf_file *mf, const char *name, void **data,
                            mf_record_info *info);

/**
 * Describe one record without copying its payload.
 * @return 0, #MF_ENOTFOUND, #MF_ECORRUPT, #MF_EBUSY, #MF_EREPLACED
 */
MF_API int mf_stat(mf_file *mf, const char *name, mf_record_info *info);

/** Iterator over records in insertion order; fields are private. */
typedef struct mf_iter {
    mf_file *mf;
    struct mf_txn *txn;     /* NULL: the latest state; else that view */
    char prefix[MF_NAME_MAX + 1];
    uint64_t table;         /* serial of the index table pos refers to */
    uint64_t pos;           /* next position in its insertion order */
    uint64_t last_order;    /* insertion number of the last record returned */
    uint64_t steps;
} mf_iter;

/**
 * Start iterating over the records whose name starts with @p prefix (NULL
 * or "" for all). A prefix ending in '/' lists one folder of path-like
 * names. Records added during iteration may or may not be seen; removed
 * ones are skipped; no record is seen twice.
 */
MF_API void mf_iter_init(mf_iter *it, mf_file *mf, const char *prefix);
/**
 * Next record.
 * @return 1 with @p info filled, 0 at the end, or a negative error
 *         (#MF_ECORRUPT, #MF_EREPLACED, #MF_EBUSY only while a live writer
 *         keeps reclaiming faster than one step can read; in a view made
 *         with mf_txn_iter_init(): #MF_ESNAPSHOT)
 */
MF_API int mf_iter_next(mf_iter *it, mf_record_info *info);

/** Writer lock state, for tools. */
typedef enum mf_writer_state {
    MF_WRITER_FREE = 0,
    MF_WRITER_HELD = 1,
    MF_WRITER_DEAD = 2   /**< held by a process that died; next writer repairs */
} mf_writer_state;

/** What is known about the whole file (TMapFile::Print). */
typedef struct mf_file_info {
    const char *path;       /**< valid while the handle is open */
    char title[128];
    uint32_t format_version;
    uint64_t capacity;      /**< current file size in bytes */
    uint64_t max_size;      /**< growth limit in bytes */
    uint64_t heap_size;     /**< bytes managed by the heap */
    uint64_t heap_used;     /**< bytes in allocated heap blocks */
    uint64_t heap_free;     /**< bytes in free heap blocks */
    uint64_t records;       /**< number of records */
    uint64_t generation;    /**< file-wide change counter */
    uint64_t batch;         /**< last batch published */
    uint64_t recoveries;    /**< crashed writers repaired so far */
    int writer_state;       /**< #mf_writer_state */
    int writable;           /**< opened for writing */
    int retired;            /**< replaced by a RECREATE */
    uint64_t best_buffer;   /**< mean + 1 sigma of payload sizes written */
    uint32_t writer_pid;    /**< pid holding the writer lock, or that died
                                 holding it; 0 when free, and 0 when the
                                 holder died in the instant between taking
                                 the lock and recording its pid (or between
                                 clearing it and releasing the lock) */
    int repair_pending;     /**< a writer died in the middle of a change:
                                 the next writer repairs it (readers are
                                 unaffected) */
    uint64_t committed;     /**< the last committed batch number */
    uint64_t file_id;       /**< random, new for every file created: tells
                                 a producer's restart (RECREATE) apart */
    uint64_t created_ns;    /**< CLOCK_REALTIME when the file was created */
} mf_file_info;

/**
 * Delete the map file at @p path and its wake page (see mf_wait()). Use it
 * instead of unlink(2), which leaves the 4 KiB page in /dev/shm. Processes
 * that have the file open keep reading it; a symlink at @p path is removed,
 * not followed; a file that is not a map file is simply deleted.
 * @return 0, #MF_EINVAL, #MF_ENOENT, #MF_EACCES, #MF_ESYS
 */
MF_API int mf_unlink_file(const char *path);

/** Describe the file. @return 0, #MF_EINVAL, #MF_ECORRUPT (the file shrank
 *  under the reader) */
MF_API int mf_file_stat(mf_file *mf, mf_file_info *info);

/** Print the file's info, like TMapFile::Print. */
MF_API void mf_print(mf_file *mf, FILE *out);
/** List the records (name, class, size), like TMapFile::ls. */
MF_API void mf_ls(mf_file *mf, FILE *out);

/**
 * Block until the file's generation differs from @p *seen, then store the
 * new generation in @p *seen. Returns at once if it already differs. Sleeps
 * on a futex in the file header, no polling; waiters count themselves in a
 * 4 KiB wake page, /dev/shm/mapfile-<file_id in hex>, so writers make the
 * wake system call only when someone waits (see mf_unlink_file()). Start
 * with *seen = 0 to get the current generation immediately.
 *
 * A reader whose file was replaced (a producer's RECREATE, or the path
 * deleted and created anew, noticed within 250 ms) moves to the new file
 * and returns 0: the data it reads next is new.
 * @param timeout_ms  -1 waits forever
 * @return 0, #MF_ETIMEDOUT, #MF_EREPLACED (only with
 *         #MF_OPEN_NO_FOLLOW_REPLACE; otherwise the handle reopens the new
 *         file and returns 0)
 */
MF_API int mf_wait(mf_file *mf, uint64_t *seen, int timeout_ms);

/* ------------------------------------------------------------------------ */
/* Consistent snapshots                                                     */
/* ------------------------------------------------------------------------ */

/**
 * Get several objects as one consistent snapshot: all of them as of the
 * same batch, never a mix of two mf_update(mf, NULL) calls (or of single
 * updates), even if a writer died in the middle of one. It reads through
 * a read view (mf_txn_begin()) and begins a new one while writers replace
 * what it reads, up to a bound. On failure nothing is returned and nothing
 * needs freeing.
 * @param names  @p n record names
 * @param objs   out: @p n new objects (free each with mf_object_free())
 * @param classes out: their codecs
 * @param[out] retries  how many times the snapshot was retried (may be NULL)
 * @return 0, #MF_EBUSY (writers replaced the records on every one of many
 *         tries), or any mf_get() error
 */
MF_API int mf_get_snapshot(mf_file *mf, const char *const *names, size_t n,
                           void **objs, const mf_class **classes,
                           unsigned *retries);

/* ------------------------------------------------------------------------ */
/* Read views                                                               */
/* ------------------------------------------------------------------------ */

/** A read view of one committed batch: see mf_txn_begin(). */
typedef struct mf_txn mf_txn;

/**
 * Begin a read view: every read through it answers as of the batch that was
 * the latest committed when it began, like a read transaction, without
 * blocking or slowing any writer. Writers do not keep old versions for a
 * view: a read whose answer a writer has since replaced (or, for a name
 * not found or an iteration, whose absence a later removal could explain)
 * fails with #MF_ESNAPSHOT, and the caller begins a new view. A view that
 * reads quickly after it begins almost never meets that. While a view is
 * open, mappings its handle retires (the file grew, or a reader followed a
 * replaced file) stay mapped until a moment when no view or call of the
 * handle is in flight: a view held for hours across producer restarts
 * keeps the replaced files' space in use until it ends.
 * @param[out] out  the view; end it with mf_txn_end()
 * @return 0, #MF_EINVAL, #MF_ENOMEM, #MF_EREPLACED, #MF_ECORRUPT
 */
MF_API int mf_txn_begin(mf_file *mf, mf_txn **out);
/** The batch number the view reads (0 for a file never written). */
MF_API uint64_t mf_txn_batch(const mf_txn *txn);
/** mf_stat() as of the view. @return as mf_stat(), plus #MF_ESNAPSHOT */
MF_API int mf_txn_stat(mf_txn *txn, const char *name, mf_record_info *info);
/** mf_get() as of the view. @return as mf_get(), plus #MF_ESNAPSHOT */
MF_API int mf_txn_get(mf_txn *txn, const char *name, void **obj,
                      const mf_class **cls);
/** mf_get_raw_alloc() as of the view.
 *  @return as mf_get_raw_alloc(), plus #MF_ESNAPSHOT */
MF_API int mf_txn_get_raw_alloc(mf_txn *txn, const char *name, void **data,
                                mf_record_info *info);
/** Iterate over the records of the view (see mf_iter_init()); the iterator
 *  must not outlive the view. */
MF_API void mf_txn_iter_init(mf_iter *it, mf_txn *txn, const char *prefix);
/** End a view. NULL is ignored. */
MF_API void mf_txn_end(mf_txn *txn);

/** mf_copy() flags */
enum mf_copy_flags {
    /** Replace @p dst_path atomically if it exists (else #MF_EEXIST). */
    MF_COPY_REPLACE = 1u << 0
};

/**
 * Write a consistent, compacted copy of the file to @p dst_path while
 * writers go on: one read view (every record as of one committed batch),
 * only live records, a fresh heap, the same title and limits. The copy is
 * built under a temporary name beside @p dst_path and then linked (or
 * renamed, with #MF_COPY_REPLACE) into place, so nobody sees a partial
 * copy. Retries with a new view while writers replace what it reads, up
 * to a bound.
 * @return 0, #MF_EEXIST, #MF_EACCES, #MF_EINVAL, #MF_ENOMEM, #MF_ESYS,
 *         #MF_EFULL, #MF_ECORRUPT, #MF_ECHECKSUM (a damaged record: the
 *         copy is not made), #MF_EBUSY (writers changed it on every try)
 */
MF_API int mf_copy(mf_file *mf, const char *dst_path, unsigned flags);

/* ------------------------------------------------------------------------ */
/* Checking                                                                 */
/* ------------------------------------------------------------------------ */

/** Called by mf_check() for each problem found. */
typedef void (*mf_check_report_fn)(void *ud, const char *problem);

/** What mf_check_file() found besides the problems it reported. */
typedef struct mf_check_result {
    size_t struct_size;     /**< sizeof(mf_check_result) */
    unsigned problems;      /**< problems reported */
    int heap_checked;       /**< 0: the heap was not verified, because a
                                 live writer never paused long enough (on a
                                 read-only handle) or a repair is pending */
    int writer_state;       /**< #mf_writer_state during the check */
    uint32_t writer_pid;    /**< the writer's pid, or 0 (free, or a holder
                                 that died before recording its pid: see
                                 mf_file_info.writer_pid) */
    int repair_pending;     /**< the writer died in the middle of a change:
                                 its unfinished work is not reported as
                                 damage; the next writer repairs it */
} mf_check_result;

/**
 * Verify everything the file holds: the header; the index (sizes, every
 * slot, insertion order); every record's versions (bounds, names, links,
 * the checksum of the current one); and the heap (blocks tile it, no
 * overlap, free lists agree, every allocated block belongs to a record, the
 * index or the retired lists).
 *
 * Safe on a live file. On a handle opened for writing the check takes the
 * writer lock, so it is exact and blocks writers while it runs. On a
 * read-only handle it takes no lock: each record is checked inside a read
 * window and a finding is only reported if it is stable (never a state a
 * live writer passes through); the heap and the cross-checks run in a
 * moment when no writer holds the lock, and are skipped (heap_checked = 0)
 * if writers never pause for about a second.
 *
 * A file whose writer died in the middle of a change is reported as that
 * (repair_pending), not as damage: its records are still checked, the heap
 * (which the dead writer may have left half changed) is not. Open it for
 * writing (mf_open #MF_UPDATE with #MF_OPEN_NO_CREATE) to repair it.
 * @param report  called once per problem (may be NULL)
 * @param[out] res  what was found (struct_size set by the caller; may be
 *                  NULL)
 * @return 0 if the check ran (even if it found problems), or an error if it
 *         could not run (#MF_EINVAL, #MF_ENOMEM, #MF_EREPLACED,
 *         #MF_ECORRUPT when the file shrank under the check)
 */
MF_API int mf_check_file(mf_file *mf, mf_check_report_fn report, void *ud,
                         mf_check_result *res);

/** mf_check_file() returning only the number of problems.
 *  @return as mf_check_file() */
MF_API int mf_check(mf_file *mf, mf_check_report_fn report, void *ud,
                    unsigned *problems);

/* ------------------------------------------------------------------------ */
/* Calling methods (libffi)                                                 */
/* ------------------------------------------------------------------------ */

/** Type letters of a method signature (see mapfile/codec.h). */
typedef enum mf_type {
    MF_T_VOID = 'v',
    MF_T_I64 = 'i',
    MF_T_U64 = 'u',
    MF_T_F64 = 'd',
    MF_T_STR = 's',
    MF_T_OBJ = 'o'
} mf_type;

/** A typed value passed to or returned from mf_call(). */
typedef struct mf_value {
    mf_type type;
    union {
        int64_t i;
        uint64_t u;
        double d;
        const char *s; /**< returned strings are owned by the object */
    } v;
} mf_value;

/**
 * Call method @p method of @p obj (an object of @p cls) with @p nargs
 * arguments (not counting the object). Argument types must match the
 * signature exactly; nothing is called otherwise.
 * @return 0, #MF_ENOMETHOD, #MF_EARGS (count or type; mf_errdetail() says
 *         which), #MF_EINVAL
 */
MF_API int mf_call(const mf_class *cls, void *obj, const char *method,
                   const mf_value *args, size_t nargs, mf_value *ret);

/** One method as listed by mf_class_methods(). */
typedef struct mf_method_info {
    const char *name;
    const char *signature;
} mf_method_info;

/**
 * List the methods of a class (already validated by the registry).
 * @param[out] out  array valid for the registry's lifetime
 * @return number of methods (0 if none), or #MF_ENOCODEC if @p cls was not
 *         obtained from a registry
 */
MF_API int mf_class_methods(const mf_class *cls, const mf_method_info **out);

#ifdef __cplusplus
}
#endif

#endif /* MAPFILE_MAPFILE_H */
