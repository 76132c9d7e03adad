/* strpool: the session's interned strings (function, file and module names). Every symbolizer of a
 * session interns here, so a name stays valid until the session ends even after the symbolizer of
 * its program image was freed (exec), and a chain of images of one program stores each name once.
 * Thread-safe (one mutex); never frees a string before strpool_free. */
#ifndef MEMTOP_STRPOOL_H
#define MEMTOP_STRPOOL_H

struct strpool;

struct strpool *strpool_new(void);
/* The pool's copy of str (one per distinct content), NULL for NULL or out of memory. */
const char *strpool_intern(struct strpool *p, const char *str);
/* The same with a void context, as symdb_set_interner takes it. */
const char *strpool_intern_cb(void *pool, const char *str);
void strpool_free(struct strpool *p);

#endif
