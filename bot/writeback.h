/* writeback — SQLite's default VFS with early writeback (Linux).
 *
 * SQLite in WAL mode with synchronous=NORMAL syncs the WAL before a
 * checkpoint and the database after it; each sync then waits for every
 * byte written since the last one (128 MB of WAL between checkpoints in
 * bulk loading, as much again copied into the database). This VFS forwards
 * everything to the default one and, after every 1 MB written to a main
 * database or a WAL file, asks the kernel to start writing that range
 * (sync_file_range(SYNC_FILE_RANGE_WRITE), which does not wait), so the
 * disk works while SQLite goes on and the syncs find little left to do.
 * What is durable when is exactly what SQLite's own syncs make it.
 *
 * The descriptor comes from the default ("unix") VFS's file object,
 * whose first members have been the methods, the VFS, the inode record
 * and the descriptor since SQLite 3.7; it is used only when fstat() of it
 * names the same file as the path just opened, so a different layout means
 * no hints, never a wrong file. Elsewhere the VFS is a plain forwarder.
 *
 * It also halves the WAL's write calls. SQLite writes a WAL frame as two
 * writes, its 24-byte header and then the page right after it. A write
 * of at most 32 bytes to a WAL file (with a descriptor) is held until the
 * next call on the file: if that is the write that follows on, both go
 * in one pwritev(); anything else (another write, a read, a sync, the
 * size, a lock, a file control, the close) first writes the held bytes.
 * A held header is never a commit's last write (its page follows at
 * once), so what a commit wrote is in the file when COMMIT returns, and
 * a process killed after it loses nothing. Measured on bulk ingest: 2.4
 * fewer system calls a story, 2–5% less CPU in interleaved runs.
 *
 * The hints start the writes, but a sync still waits for the disk to make
 * them durable, and on a virtual disk with a write-back cache that takes
 * time in proportion to the bytes written since the last sync, however
 * long ago they were handed over (measured: ~0.5 ms a MB; 60–80 ms for
 * each of the syncs around a 128 MB checkpoint). So after every 4 MB
 * written to a database or WAL file, a background thread (started on the
 * first such request) calls fdatasync() on it while SQLite goes on; its
 * own syncs, where and when SQLite makes them, then find only the bytes
 * since. A sync more never makes anything less durable. A file being
 * closed waits for the thread to be done with it; the thread ends at
 * exit. Measured on bulk ingest: see README, Benchmarks.
 */
#ifndef AINEWS_WRITEBACK_H
#define AINEWS_WRITEBACK_H

/* Register the VFS as SQLite's default (once; before any connection).
 * 0 ok, -1 when SQLite has no default VFS to wrap. */
int writeback_register(void);

/* Hints this process has given so far (tests, benchmarks). */
long long writeback_hints(void);

/* Syncs the background thread has made so far (tests, benchmarks). */
long long writeback_background_syncs(void);

/* WAL writes joined to the small one before them (tests, benchmarks). */
long long writeback_joined(void);

#endif
