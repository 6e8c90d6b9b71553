/* uml-xstate.c — LD_PRELOAD shim that lets Debian's user-mode Linux 6.1
 * boot on hosts whose XSAVE area is larger than UML expects (AMX tiles:
 * ~11 KB against UML's fixed 832 bytes).
 *
 * Why: UML saves and restores its processes' FPU state with
 * PTRACE_GETREGSET / PTRACE_SETREGSET (NT_X86_XSTATE) and a buffer of its
 * own fixed size. A short GETREGSET is allowed, but the host kernel refuses
 * any SETREGSET that is not the whole XSAVE area with EFAULT, and UML then
 * kills init: "userspace - ptrace set fp regs failed, errno = 14".
 *
 * What: a short SETREGSET is widened: the tracee's whole area is read, UML's
 * bytes (legacy x87/SSE area, XSAVE header, AVX) are laid over its start,
 * and the whole area is written back. Everything past UML's part keeps the
 * tracee's current value. On hosts where the sizes already agree this
 * changes nothing. Used only by tests/nat/uml-boot.sh. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef long (*ptrace_fn)(int, pid_t, void *, void *);

/* UML is single-threaded on the host side: one static area suffices. */
static unsigned char area[1 << 16] __attribute__((aligned(64)));

long ptrace(enum __ptrace_request req, ...)
{
	static ptrace_fn real;
	va_list ap;
	pid_t pid;
	void *addr, *data;

	va_start(ap, req);
	pid = va_arg(ap, pid_t);
	addr = va_arg(ap, void *);
	data = va_arg(ap, void *);
	va_end(ap);
	if (real == NULL)
		real = (ptrace_fn)dlsym(RTLD_NEXT, "ptrace");
	if (req == PTRACE_SETREGSET && (long)addr == NT_X86_XSTATE && data != NULL) {
		struct iovec *uiov = data, full = { area, sizeof(area) };

		/* GETREGSET shrinks iov_len to the host's real size */
		if (real(PTRACE_GETREGSET, pid, addr, &full) == 0 && full.iov_len > uiov->iov_len) {
			memcpy(area, uiov->iov_base, uiov->iov_len);
			return real(PTRACE_SETREGSET, pid, addr, &full);
		}
	}
	return real(req, pid, addr, data);
}
