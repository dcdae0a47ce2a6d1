import Dispatch
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A file checksummed (and possibly fsynced) while the state writer was still running.
struct EarlyFileResult: Sendable {
    var sha256: String
    var size: Int64
    var fingerprint: FileFingerprint
    var synced: Bool
}

#if os(Linux)
/// Checksums and fsyncs the files a state writer has finished while it writes the next ones,
/// so hashing overlaps writing and the device starts writing early.
///
/// It watches the temporary folder with inotify: `IN_CLOSE_WRITE` on a file schedules its
/// SHA-256 and fsync. Every event on a path (modify, create, delete, move) bumps the path's
/// generation; a result counts only if no event touched the path after the close it was
/// scheduled for, and the file's identity, size and mtime are unchanged when the writer
/// returns. Queue overflow or a moved folder discards every result. Files it misses are
/// hashed after the writer returns, so it only ever saves time, never decides correctness.
final class EarlyFileProcessor: Sendable {
    private struct State {
        var watches: [Int32: String] = [:]
        var generations: [String: Int] = [:]
        var results: [String: (generation: Int, result: EarlyFileResult)] = [:]
        var discardAll = false
        var stopping = false
    }

    private static let fileEvents = UInt32(IN_CLOSE_WRITE) | UInt32(IN_MODIFY) | UInt32(IN_CREATE) | UInt32(IN_DELETE)
        | UInt32(IN_MOVED_FROM) | UInt32(IN_MOVED_TO) | UInt32(IN_DELETE_SELF) | UInt32(IN_MOVE_SELF)

    private let root: String
    private let descriptor: Int32
    private let state = Mutex(State())
    private let loopGroup = DispatchGroup()
    private let workGroup = DispatchGroup()
    private let hashQueue = DispatchQueue(label: "hsnn.checkpoint.early-hash", qos: .utility, attributes: .concurrent)
    /// Bounds concurrent checksums to the processor count.
    private let hashSlots = DispatchSemaphore(value: Swift.max(1, ProcessInfo.processInfo.activeProcessorCount))
    private let syncQueue = DispatchQueue(label: "hsnn.checkpoint.early-sync", qos: .utility)

    /// Starts watching `root`; `nil` when inotify is unavailable (the publish then hashes afterwards).
    init?(root: String) {
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { return nil }
        let wd = inotify_add_watch(fd, root, Self.fileEvents)
        guard wd >= 0 else { close(fd); return nil }
        self.root = root
        self.descriptor = fd
        state.withLock { $0.watches[wd] = "" }
        DispatchQueue.global(qos: .utility).async(group: loopGroup) { [self] in eventLoop() }
    }

    deinit { close(descriptor) }

    /// Stops watching once every event the writer caused is handled and every scheduled
    /// checksum and fsync has run; returns the results still valid, by relative path.
    func finish() -> [String: EarlyFileResult] {
        state.withLock { $0.stopping = true }
        loopGroup.wait()
        workGroup.wait()
        return state.withLock { state in
            guard !state.discardAll else { return [:] }
            var valid: [String: EarlyFileResult] = [:]
            for (path, entry) in state.results where state.generations[path] == entry.generation {
                valid[path] = entry.result
            }
            return valid
        }
    }

    /// Stops watching and drops every result (the writer failed).
    func cancel() {
        state.withLock {
            $0.stopping = true
            $0.discardAll = true
        }
        loopGroup.wait()
        workGroup.wait()
    }

    private func eventLoop() {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 8)
        defer { buffer.deallocate() }
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        while true {
            // After the writer returned, every event it caused is already queued: drain, then stop.
            let stopping = state.withLock { $0.stopping }
            let ready = poll(&poller, 1, stopping ? 0 : 20)
            if ready > 0 {
                let n = read(descriptor, buffer.baseAddress!, buffer.count)
                if n > 0 { handle(UnsafeRawBufferPointer(rebasing: buffer[0..<n])) }
                continue
            }
            if ready < 0, errno == EINTR { continue }
            if stopping || ready < 0 { return }
        }
    }

    private func handle(_ events: UnsafeRawBufferPointer) {
        var offset = 0
        let headerSize = MemoryLayout<inotify_event>.size
        while offset + headerSize <= events.count {
            let wd = events.loadUnaligned(fromByteOffset: offset, as: Int32.self)
            let mask = events.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
            let length = Int(events.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
            var name = ""
            if length > 0, offset + headerSize + length <= events.count {
                let bytes = UnsafeRawBufferPointer(rebasing: events[(offset + headerSize)..<(offset + headerSize + length)])
                name = String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            }
            offset += headerSize + length
            handle(wd: wd, mask: mask, name: name)
        }
    }

    private func handle(wd: Int32, mask: UInt32, name: String) {
        if mask & UInt32(IN_Q_OVERFLOW) != 0 || mask & (UInt32(IN_DELETE_SELF) | UInt32(IN_MOVE_SELF)) != 0 {
            state.withLock { $0.discardAll = true }
            return
        }
        let job: (path: String, generation: Int)? = state.withLock { state in
            guard let folder = state.watches[wd], !name.isEmpty else { return nil }
            let relative = folder.isEmpty ? name : folder + "/" + name
            if mask & UInt32(IN_ISDIR) != 0 {
                if mask & (UInt32(IN_MOVED_FROM) | UInt32(IN_MOVED_TO)) != 0 {
                    state.discardAll = true   // paths below it changed meaning
                } else if mask & UInt32(IN_CREATE) != 0 {
                    let child = inotify_add_watch(descriptor, root + "/" + relative, Self.fileEvents)
                    if child >= 0 { state.watches[child] = relative }
                }
                return nil
            }
            let generation = state.generations[relative, default: 0] + 1
            state.generations[relative] = generation
            return mask & UInt32(IN_CLOSE_WRITE) != 0 ? (relative, generation) : nil
        }
        guard let job else { return }
        hashQueue.async(group: workGroup) { [self] in process(job.path, generation: job.generation) }
    }

    private func isCurrent(_ path: String, _ generation: Int) -> Bool {
        state.withLock { !$0.discardAll && $0.generations[path] == generation }
    }

    private func process(_ relative: String, generation: Int) {
        guard isCurrent(relative, generation) else { return }
        let absolute = root + "/" + relative
        hashSlots.wait()
        let hashed = try? FileHasher().hashWithFingerprint(absolute)
        hashSlots.signal()
        guard let hashed, isCurrent(relative, generation) else { return }
        state.withLock {
            $0.results[relative] = (generation, EarlyFileResult(sha256: hashed.sha256, size: hashed.size, fingerprint: hashed.fingerprint, synced: false))
        }
        syncQueue.async(group: workGroup) { [self] in
            guard isCurrent(relative, generation), (try? FileSystem.sync(absolute, directory: false)) != nil else { return }
            state.withLock { state in
                if state.results[relative]?.generation == generation { state.results[relative]?.result.synced = true }
            }
        }
    }
}

#else
/// Without inotify every file is checksummed after the writer returns.
final class EarlyFileProcessor: Sendable {
    init?(root: String) { nil }
    func finish() -> [String: EarlyFileResult] { [:] }
    func cancel() {}
}
#endif
