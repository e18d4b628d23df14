/* writeback — SQLite's default VFS with early writeback (see writeback.h). */
#define _GNU_SOURCE
#include "writeback.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* Bytes written to a file before its writeback is started. */
#define WB_CHUNK (1 << 20)

/* Bytes written to a file before a sync of it is asked of the background
 * thread (see writeback.h). */
#define WB_BG_CHUNK (4 << 20)

/* Files waiting for the background thread at most; a file asked for
 * while the queue is full waits for its next chunk. */
#define WB_BG_QUEUE 8

/* A WAL write this small (a frame's 24-byte header, the WAL's 32-byte
 * header) is held until the next call on the file; see writeback.h. */
#define WB_HELD_MAX 32

struct wb_file {
	sqlite3_file base;
	sqlite3_file *real; /* the default VFS's file object, in the same block */
	int fd;             /* its descriptor, or -1: no hints */
	int wal;            /* a WAL file with a descriptor: small writes held */
	sqlite3_int64 lo, hi, pending; /* written since the last hint or sync */
	sqlite3_int64 bg_bytes;        /* written since the last background sync was asked */
	int bg_queued;                 /* in the background thread's queue */
	int held_n;                    /* bytes held, 0 none */
	sqlite3_int64 held_off;
	unsigned char held[WB_HELD_MAX];
};

static sqlite3_vfs wb_vfs;
static sqlite3_vfs *wb_real;
static long long wb_nhints, wb_njoined, wb_nbg;

/* The background thread: syncs files that have had WB_BG_CHUNK bytes
 * written since their last one, one at a time, in the order asked. A
 * file being closed first leaves the queue, then waits while the thread
 * syncs it (its descriptor is the file's own: a duplicate's close would
 * drop the process's POSIX locks on the database). */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t work; /* a file queued, or stop */
	pthread_cond_t done; /* a sync finished */
	struct wb_file *queue[WB_BG_QUEUE];
	int n;
	struct wb_file *busy; /* the file being synced, or NULL */
	int state;            /* 0 not started, 1 running, -1 cannot start, 2 stopping */
	pthread_t thread;
} bg = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, 0, NULL, 0, 0};

#define REAL(f) (((struct wb_file *)(f))->real)
#define RM(f) (REAL(f)->pMethods)

/* The start of the default VFS's file object: ours is the "unix" one. */
struct unix_file_head {
	const sqlite3_io_methods *methods;
	sqlite3_vfs *vfs;
	void *inode;
	int h;
};

static int find_fd(sqlite3_file *real, const char *path)
{
	if (strncmp(wb_real->zName, "unix", 4) || wb_real->szOsFile < (int)sizeof(struct unix_file_head))
		return -1;
	int fd = ((const struct unix_file_head *)real)->h;
	struct stat a, b;
	if (fd < 0 || fstat(fd, &a) || stat(path, &b) || a.st_dev != b.st_dev || a.st_ino != b.st_ino)
		return -1;
	return fd;
}

static void *bg_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&bg.mu);
	for (;;) {
		while (!bg.n && bg.state == 1)
			pthread_cond_wait(&bg.work, &bg.mu);
		if (!bg.n)
			break;
		struct wb_file *p = bg.queue[0];
		memmove(bg.queue, bg.queue + 1, (size_t)--bg.n * sizeof *bg.queue);
		p->bg_queued = 0;
		bg.busy = p;
		int fd = p->fd;
		pthread_mutex_unlock(&bg.mu);
		/* Only an early start on SQLite's own syncs: they come when
		 * they did and wait for whatever is still to do; so an error
		 * here is theirs to find. */
		if (fdatasync(fd) == 0)
			__atomic_fetch_add(&wb_nbg, 1, __ATOMIC_RELAXED);
		pthread_mutex_lock(&bg.mu);
		bg.busy = NULL;
		pthread_cond_broadcast(&bg.done);
	}
	pthread_mutex_unlock(&bg.mu);
	return NULL;
}

/* At exit: the queue emptied by the thread, which then ends. */
static void bg_stop(void)
{
	pthread_mutex_lock(&bg.mu);
	int running = bg.state == 1;
	if (running) {
		bg.state = 2;
		pthread_cond_signal(&bg.work);
	}
	pthread_mutex_unlock(&bg.mu);
	if (running)
		pthread_join(bg.thread, NULL);
}

/* Ask for a background sync of p (called with no lock held). */
static void bg_ask(struct wb_file *p)
{
	p->bg_bytes = 0;
	pthread_mutex_lock(&bg.mu);
	if (bg.state == 0) {
		/* with every signal blocked: they stay the other threads' */
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		bg.state = pthread_create(&bg.thread, NULL, bg_main, NULL) ? -1 : 1;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (bg.state == 1)
			atexit(bg_stop);
	}
	if (bg.state == 1 && !p->bg_queued && bg.n < WB_BG_QUEUE) {
		bg.queue[bg.n++] = p;
		p->bg_queued = 1;
		pthread_cond_signal(&bg.work);
	}
	pthread_mutex_unlock(&bg.mu);
}

/* p leaves the queue and is not being synced when this returns. */
static void bg_forget(struct wb_file *p)
{
	pthread_mutex_lock(&bg.mu);
	for (int i = 0; p->bg_queued && i < bg.n; i++)
		if (bg.queue[i] == p) {
			memmove(bg.queue + i, bg.queue + i + 1, (size_t)(--bg.n - i) * sizeof *bg.queue);
			p->bg_queued = 0;
		}
	while (bg.busy == p)
		pthread_cond_wait(&bg.done, &bg.mu);
	pthread_mutex_unlock(&bg.mu);
}

static void start_writeback(struct wb_file *p)
{
#ifdef SYNC_FILE_RANGE_WRITE
	if (sync_file_range(p->fd, p->lo, p->hi - p->lo, SYNC_FILE_RANGE_WRITE) == 0)
		__atomic_fetch_add(&wb_nhints, 1, __ATOMIC_RELAXED);
#endif
	p->pending = 0;
}

/* n bytes written at off: start their writeback once 1 MB is due. */
static void noted(struct wb_file *p, int n, sqlite3_int64 off)
{
	if (p->fd < 0 || n <= 0)
		return;
	if (!p->pending || off < p->lo)
		p->lo = off;
	if (!p->pending || off + n > p->hi)
		p->hi = off + n;
	p->pending += n;
	if (p->pending >= WB_CHUNK)
		start_writeback(p);
	p->bg_bytes += n;
	if (p->bg_bytes >= WB_BG_CHUNK)
		bg_ask(p);
}

static int real_write(struct wb_file *p, const void *buf, int n, sqlite3_int64 off)
{
	int rc = RM(&p->base)->xWrite(p->real, buf, n, off);
	if (rc == SQLITE_OK)
		noted(p, n, off);
	return rc;
}

/* The held bytes, then buf: one pwritev() (as the default VFS writes:
 * short writes continued, ENOSPC as SQLITE_FULL). */
static int joined_write(struct wb_file *p, const void *buf, int n)
{
	struct iovec iov[2] = {{p->held, (size_t)p->held_n}, {(void *)buf, (size_t)n}};
	struct iovec *v = iov;
	int nv = 2;
	sqlite3_int64 off = p->held_off;
	size_t total = (size_t)p->held_n + (size_t)n, done = 0;
	p->held_n = 0;
	while (done < total) {
		ssize_t w = pwritev(p->fd, v, nv, off + (sqlite3_int64)done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 && errno != ENOSPC ? SQLITE_IOERR_WRITE : SQLITE_FULL;
		done += (size_t)w;
		for (size_t left = (size_t)w; nv && left;) { /* past what went */
			size_t t = left < v->iov_len ? left : v->iov_len;
			v->iov_base = (char *)v->iov_base + t;
			v->iov_len -= t;
			left -= t;
			if (!v->iov_len)
				v++, nv--;
		}
	}
	__atomic_fetch_add(&wb_njoined, 1, __ATOMIC_RELAXED);
	noted(p, (int)total, off);
	return SQLITE_OK;
}

/* Before anything else touches the file: the held bytes written. */
static int flush_held(sqlite3_file *f)
{
	struct wb_file *p = (struct wb_file *)f;
	if (!p->held_n)
		return SQLITE_OK;
	int n = p->held_n;
	p->held_n = 0;
	return real_write(p, p->held, n, p->held_off);
}

#define FLUSH_HELD(f)                         \
	do {                                  \
		int held_rc_ = flush_held(f); \
		if (held_rc_)                 \
			return held_rc_;      \
	} while (0)

/* ---- file methods: forwarded; writes noted ---- */

static int wb_close(sqlite3_file *f)
{
	int hrc = flush_held(f);
	struct wb_file *p = (struct wb_file *)f;
	if (p->fd >= 0)
		bg_forget(p);
	int rc = RM(f)->xClose(REAL(f));
	if (rc == SQLITE_OK)
		rc = hrc;
	f->pMethods = NULL;
	return rc;
}

static int wb_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
	FLUSH_HELD(f);
	return RM(f)->xRead(REAL(f), buf, n, off);
}

static int wb_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
	struct wb_file *p = (struct wb_file *)f;
	if (p->held_n) {
		if (n > 0 && off == p->held_off + p->held_n)
			return joined_write(p, buf, n);
		FLUSH_HELD(f);
	}
	if (p->wal && n > 0 && n <= WB_HELD_MAX) {
		memcpy(p->held, buf, (size_t)n);
		p->held_n = n;
		p->held_off = off;
		return SQLITE_OK;
	}
	return real_write(p, buf, n, off);
}

static int wb_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	FLUSH_HELD(f);
	return RM(f)->xTruncate(REAL(f), size);
}

static int wb_sync(sqlite3_file *f, int flags)
{
	FLUSH_HELD(f);
	int rc = RM(f)->xSync(REAL(f), flags);
	if (rc == SQLITE_OK) {
		struct wb_file *p = (struct wb_file *)f;
		p->pending = p->bg_bytes = 0;
	}
	return rc;
}

static int wb_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	FLUSH_HELD(f);
	return RM(f)->xFileSize(REAL(f), size);
}

static int wb_lock(sqlite3_file *f, int lock)
{
	FLUSH_HELD(f);
	return RM(f)->xLock(REAL(f), lock);
}

static int wb_unlock(sqlite3_file *f, int lock)
{
	FLUSH_HELD(f);
	return RM(f)->xUnlock(REAL(f), lock);
}

static int wb_check_reserved(sqlite3_file *f, int *out)
{
	return RM(f)->xCheckReservedLock(REAL(f), out);
}

static int wb_file_control(sqlite3_file *f, int op, void *arg)
{
	FLUSH_HELD(f);
	return RM(f)->xFileControl(REAL(f), op, arg);
}

static int wb_sector_size(sqlite3_file *f)
{
	return RM(f)->xSectorSize(REAL(f));
}

static int wb_device_characteristics(sqlite3_file *f)
{
	return RM(f)->xDeviceCharacteristics(REAL(f));
}

static int wb_shm_map(sqlite3_file *f, int region, int size, int extend, void volatile **out)
{
	if (RM(f)->iVersion < 2 || !RM(f)->xShmMap)
		return SQLITE_IOERR_SHMMAP;
	return RM(f)->xShmMap(REAL(f), region, size, extend, out);
}

static int wb_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
	if (RM(f)->iVersion < 2 || !RM(f)->xShmLock)
		return SQLITE_IOERR_SHMLOCK;
	return RM(f)->xShmLock(REAL(f), offset, n, flags);
}

static void wb_shm_barrier(sqlite3_file *f)
{
	if (RM(f)->iVersion >= 2 && RM(f)->xShmBarrier)
		RM(f)->xShmBarrier(REAL(f));
}

static int wb_shm_unmap(sqlite3_file *f, int delete_flag)
{
	if (RM(f)->iVersion < 2 || !RM(f)->xShmUnmap)
		return SQLITE_OK;
	return RM(f)->xShmUnmap(REAL(f), delete_flag);
}

static int wb_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **out)
{
	if (RM(f)->iVersion < 3 || !RM(f)->xFetch) {
		*out = NULL;
		return SQLITE_OK;
	}
	return RM(f)->xFetch(REAL(f), off, n, out);
}

static int wb_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	if (RM(f)->iVersion < 3 || !RM(f)->xUnfetch)
		return SQLITE_OK;
	return RM(f)->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods wb_io = {
	3,
	wb_close,
	wb_read,
	wb_write,
	wb_truncate,
	wb_sync,
	wb_file_size,
	wb_lock,
	wb_unlock,
	wb_check_reserved,
	wb_file_control,
	wb_sector_size,
	wb_device_characteristics,
	wb_shm_map,
	wb_shm_lock,
	wb_shm_barrier,
	wb_shm_unmap,
	wb_fetch,
	wb_unfetch,
};

/* ---- the VFS: open wraps, the rest is the default VFS's ---- */

#define REAL_OFFSET ((sizeof(struct wb_file) + 15) & ~(size_t)15)

static int wb_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
	(void)vfs;
	struct wb_file *p = (struct wb_file *)f;
	memset(p, 0, sizeof *p);
	p->real = (sqlite3_file *)((char *)f + REAL_OFFSET);
	p->fd = -1;
	int rc = wb_real->xOpen(wb_real, name, p->real, flags, out_flags);
	if (!p->real->pMethods) {
		p->base.pMethods = NULL;
		return rc;
	}
	p->base.pMethods = &wb_io;
	if (rc == SQLITE_OK && name && (flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL)))
		p->fd = find_fd(p->real, name);
	p->wal = p->fd >= 0 && (flags & SQLITE_OPEN_WAL);
	return rc;
}

static int wb_delete(sqlite3_vfs *v, const char *name, int sync_dir)
{
	(void)v;
	return wb_real->xDelete(wb_real, name, sync_dir);
}

static int wb_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
	(void)v;
	return wb_real->xAccess(wb_real, name, flags, out);
}

static int wb_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out)
{
	(void)v;
	return wb_real->xFullPathname(wb_real, name, n, out);
}

static void *wb_dlopen(sqlite3_vfs *v, const char *name)
{
	(void)v;
	return wb_real->xDlOpen(wb_real, name);
}

static void wb_dlerror(sqlite3_vfs *v, int n, char *out)
{
	(void)v;
	wb_real->xDlError(wb_real, n, out);
}

static void (*wb_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
	(void)v;
	return wb_real->xDlSym(wb_real, h, sym);
}

static void wb_dlclose(sqlite3_vfs *v, void *h)
{
	(void)v;
	wb_real->xDlClose(wb_real, h);
}

static int wb_randomness(sqlite3_vfs *v, int n, char *out)
{
	(void)v;
	return wb_real->xRandomness(wb_real, n, out);
}

static int wb_sleep(sqlite3_vfs *v, int us)
{
	(void)v;
	return wb_real->xSleep(wb_real, us);
}

static int wb_current_time(sqlite3_vfs *v, double *out)
{
	(void)v;
	return wb_real->xCurrentTime(wb_real, out);
}

static int wb_last_error(sqlite3_vfs *v, int n, char *out)
{
	(void)v;
	return wb_real->xGetLastError ? wb_real->xGetLastError(wb_real, n, out) : 0;
}

static int wb_current_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
	(void)v;
	return wb_real->xCurrentTimeInt64(wb_real, out);
}

static int wb_set_syscall(sqlite3_vfs *v, const char *name, sqlite3_syscall_ptr ptr)
{
	(void)v;
	return wb_real->xSetSystemCall(wb_real, name, ptr);
}

static sqlite3_syscall_ptr wb_get_syscall(sqlite3_vfs *v, const char *name)
{
	(void)v;
	return wb_real->xGetSystemCall(wb_real, name);
}

static const char *wb_next_syscall(sqlite3_vfs *v, const char *name)
{
	(void)v;
	return wb_real->xNextSystemCall(wb_real, name);
}

int writeback_register(void)
{
	if (wb_real)
		return 0;
	sqlite3_vfs *real = sqlite3_vfs_find(NULL);
	if (!real)
		return -1;
	wb_real = real;
	sqlite3_vfs v = {0};
	v.iVersion = real->iVersion < 3 ? real->iVersion : 3;
	v.szOsFile = (int)(REAL_OFFSET + (size_t)real->szOsFile);
	v.mxPathname = real->mxPathname;
	v.zName = "ainews-writeback";
	v.xOpen = wb_open;
	v.xDelete = wb_delete;
	v.xAccess = wb_access;
	v.xFullPathname = wb_full_pathname;
	v.xDlOpen = real->xDlOpen ? wb_dlopen : NULL;
	v.xDlError = real->xDlError ? wb_dlerror : NULL;
	v.xDlSym = real->xDlSym ? wb_dlsym : NULL;
	v.xDlClose = real->xDlClose ? wb_dlclose : NULL;
	v.xRandomness = wb_randomness;
	v.xSleep = wb_sleep;
	v.xCurrentTime = wb_current_time;
	v.xGetLastError = wb_last_error;
	if (v.iVersion >= 2)
		v.xCurrentTimeInt64 = wb_current_time64;
	if (v.iVersion >= 3) {
		v.xSetSystemCall = wb_set_syscall;
		v.xGetSystemCall = wb_get_syscall;
		v.xNextSystemCall = wb_next_syscall;
	}
	wb_vfs = v;
	if (sqlite3_vfs_register(&wb_vfs, 1) != SQLITE_OK) {
		wb_real = NULL;
		return -1;
	}
	return 0;
}

long long writeback_hints(void)
{
	return __atomic_load_n(&wb_nhints, __ATOMIC_RELAXED);
}

long long writeback_background_syncs(void)
{
	return __atomic_load_n(&wb_nbg, __ATOMIC_RELAXED);
}

long long writeback_joined(void)
{
	return __atomic_load_n(&wb_njoined, __ATOMIC_RELAXED);
}
