/* Preloaded before libasan for sanitizer runs only (scripts/asan/run.sh):
 * PHP dlopen()s extensions (opcache.so) with RTLD_DEEPBIND, which the ASan
 * runtime refuses; drop that flag and pass the call on. */
#define _GNU_SOURCE
#include <dlfcn.h>

void *dlopen(const char *file, int mode)
{
    static void *(*next)(const char *, int);
    if (!next)
        next = (void *(*)(const char *, int))dlsym(RTLD_NEXT, "dlopen");
    return next(file, mode & ~RTLD_DEEPBIND);
}
