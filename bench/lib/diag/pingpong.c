/* Diagnostic shim (not shipped, not built by CMake): wraps smfi_register so that the milter does not negotiate
 * SMFIP_NODATA/SMFIP_NOHELO and answers DATA/HELO with continue (Postfix then never sends a
 * macro packet that nothing answers). Build: cc -shared -fPIC -O2 -o pingpong.so pingpong.c -ldl */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <libmilter/mfapi.h>
static sfsistat (*orig_neg)(SMFICTX*, unsigned long, unsigned long, unsigned long, unsigned long,
                            unsigned long*, unsigned long*, unsigned long*, unsigned long*);
static sfsistat neg(SMFICTX* c, unsigned long f0, unsigned long f1, unsigned long f2, unsigned long f3,
                    unsigned long* p0, unsigned long* p1, unsigned long* p2, unsigned long* p3) {
    sfsistat r = orig_neg(c, f0, f1, f2, f3, p0, p1, p2, p3);
    *p1 &= ~(unsigned long)(SMFIP_NODATA | SMFIP_NOHELO);
    return r;
}
static sfsistat cont_data(SMFICTX* c) { (void)c; return SMFIS_CONTINUE; }
static sfsistat cont_helo(SMFICTX* c, char* h) { (void)c; (void)h; return SMFIS_CONTINUE; }
int smfi_register(struct smfiDesc d) {
    static int (*f)(struct smfiDesc);
    if (!f) f = dlsym(RTLD_NEXT, "smfi_register");
    if (d.xxfi_negotiate) { orig_neg = d.xxfi_negotiate; d.xxfi_negotiate = neg; }
    if (!d.xxfi_data) d.xxfi_data = cont_data;
    if (!d.xxfi_helo) d.xxfi_helo = cont_helo;
    return f(d);
}
