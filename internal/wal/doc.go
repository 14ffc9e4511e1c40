// Package wal is Docket's write-ahead log: an append-only, segmented file of
// checksummed records with group commit. The queue engine (internal/queue)
// keeps its messages here because it must acknowledge every operation only
// after it is on disk, and one fdatasync per operation would cap it at a few
// thousand operations a second; a B+tree store (bbolt) needs two fdatasyncs and
// page rewrites per commit and tops out well below the target.
//
// # Group commit
//
// [Log.Append] and [Log.Enqueue] encode their records into a shared pending
// buffer under a short mutex, which is also where positions are assigned, so
// the order of records in the log is the order in which callers took that
// mutex. A single writer goroutine, started by [Open], swaps the buffer out,
// writes it with one pwrite and makes it durable with one fdatasync, then
// releases every caller whose records were in it. While the writer is in
// fdatasync, new callers fill the next buffer. There is no timer and no batch
// delay: a lone Append on an idle log costs exactly one write and one
// fdatasync, and under load the batch size grows by itself to whatever
// arrived during the previous commit.
//
// A write or fdatasync error fails the batch it happened in and every later
// append: after a failed fdatasync, Linux may have dropped the dirty pages and
// cleared the error, so a retry could report success for data that is gone.
// The log must be closed and reopened, which recovers whatever did reach disk.
//
// # On-disk format
//
// A log is a directory of segment files named by number, 00000001.wal,
// 00000002.wal, …, with consecutive numbers; dropping segments only removes a
// prefix. Each segment starts with a 16-byte header:
//
//	magic "DKWL" | version uint16 | reserved uint16 | segment uint32 | crc32c of the previous 12 bytes
//
// so a file copied or renamed into the wrong place is detected. Records follow
// back to back, each an 8-byte header and the payload:
//
//	length uint32 | crc32c(payload || length) uint32 | payload
//
// All integers are little-endian and crc32c is CRC-32 with the Castagnoli
// polynomial (hardware accelerated by hash/crc32). A zero length-and-checksum
// header cannot be a record, since the checksum of a zero length is not zero,
// so it marks the end of the written part of a preallocated segment.
//
// A [Pos] names a record by segment number and the byte offset of its header.
//
// # Preallocation
//
// Unless [Options.NoPreallocate] is set, a background goroutine prepares the
// next segment ahead of time (as NNNNNNNN.wal.tmp): it writes the header and
// zeros up to [Options.SegmentSize] and fsyncs it, and the writer renames it
// into place when it rolls. Appends then overwrite blocks that are already
// allocated and written, so each fdatasync flushes data only, with no change
// to the file size or extent tree for the journal to commit. On the ext4 disk
// Docket is tuned for, that makes commits 1.5 to 2 times as fast, even
// counting the zeros written (BenchmarkAppend, BenchmarkAppendRolling). The
// zeros go out one 256 KiB chunk at a time, each waited for: a commit's
// fdatasync ends in a disk cache flush that waits for every write queued
// before it, and a whole segment queued at once slows commits 20-fold while
// it drains. A new log's first segment is zero-filled by Open itself. When
// the writer leaves a segment before filling it (an explicit [Log.Roll]), the
// same goroutine truncates the unused zeros, which would otherwise hold up the
// writer for ~20 ms per 64 MiB.
//
// # Recovery
//
// A crash can leave the last segment with a torn tail: part of the last batch,
// in any state. [Open] scans the last segment, keeps every record up to the
// first one that is short or fails its checksum, and erases everything after
// it (zeroing a preallocated segment, truncating a growing one) before any new
// append, so that records of a batch that was never acknowledged cannot
// reappear behind new ones. Earlier segments were complete and synced before
// their successor was created, so damage there is reported by [Log.Replay] as
// [ErrCorrupt] rather than repaired.
//
// A log whose write or fdatasync failed has bytes past its [Log.Durable]
// end in no known state: a failed fdatasync leaves the page cache holding
// data the disk may never get, and a record found there later would be one
// whose caller was told it failed. Reopening with [Options.TruncateAt] set
// to that end erases them as a torn tail is erased, and [Log.Scan] reads a
// failed log's durable records meanwhile.
//
// # Goroutines and locks
//
// Open starts the writer and, with preallocation, the preparer; [Log.Close]
// stops both and waits for them. Open also takes an exclusive flock on the
// directory, so a second process (or Log) cannot append to it at once. The Log has two mutexes: mu guards the
// pending batches and the append position (held briefly by every append and
// by the writer when it takes a batch), and segMu guards the table of open
// segment files (held by reads, rolls, drops and Close). Neither is held while
// acquiring the other, and no lock is held during a write or fdatasync.
package wal
