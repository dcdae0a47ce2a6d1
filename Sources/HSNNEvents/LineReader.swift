#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A JSON-lines file could not be opened or read.
public struct LineReaderError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        case openFailed = "open_failed"
        case readFailed = "read_failed"
    }

    public var code: Code
    public var path: String
    /// The operating system's error number.
    public var errno: Int32

    public var description: String {
        let cause = String(cString: strerror(errno))
        switch code {
        case .openFailed: return "cannot open '\(path)': \(cause); check the path and its permissions"
        case .readFailed: return "cannot read '\(path)': \(cause); check the file system or device"
        }
    }
}

/// One line's content as handed out by ``LineSplitter``.
enum RawLine {
    /// The line without its terminator (and without a trailing `\r`); valid until the next call.
    case bytes(UnsafeRawBufferPointer)
    /// A line longer than the limit, skipped without buffering; its length in bytes.
    case tooLong(Int)
}

/// Splits a file descriptor's bytes into lines, reading in chunks so memory stays bounded by
/// the chunk size plus the longest accepted line. Lines end with `\n`; a trailing `\r` is
/// removed; the last line may lack its terminator; blank (whitespace-only) lines are skipped
/// but counted in line numbers.
final class LineSplitter {
    private let fd: Int32
    private let ownsDescriptor: Bool
    private let path: String
    private let chunkSize: Int
    private let maxLineBytes: Int
    private let storage: UnsafeMutableRawBufferPointer
    private var start = 0        // first unconsumed byte
    private var end = 0          // end of valid data
    private var scanFrom = 0     // bytes before this offset (from start) hold no '\n'
    private var atEOF = false
    private var discardedBytes = 0  // > 0 while skipping an over-long line
    private(set) var lineNumber = 0

    init(path: String, chunkSize: Int, maxLineBytes: Int) throws(LineReaderError) {
        if path == "-" {
            fd = 0
            ownsDescriptor = false
        } else {
            let opened = open(path, O_RDONLY | O_CLOEXEC)
            guard opened >= 0 else { throw LineReaderError(code: .openFailed, path: path, errno: errno) }
            fd = opened
            ownsDescriptor = true
        }
        self.path = path
        self.chunkSize = max(chunkSize, 1)
        self.maxLineBytes = max(maxLineBytes, 1)
        // Room for one maximal line (plus "\r\n") and one chunk.
        storage = .allocate(byteCount: self.maxLineBytes + 2 + self.chunkSize, alignment: 16)
    }

    deinit {
        storage.deallocate()
        if ownsDescriptor { close(fd) }
    }

    /// The next non-blank line and its 1-based number, or nil at the end of the file.
    func nextLine() throws(LineReaderError) -> (number: Int, line: RawLine)? {
        let base = storage.baseAddress!
        while true {
            let searchStart = start + scanFrom
            if searchStart < end, let hit = memchr(base + searchStart, 0x0A, end - searchStart) {
                let newline = base.distance(to: UnsafeMutableRawPointer(hit))
                let lineStart = start
                start = newline + 1
                scanFrom = 0
                lineNumber += 1
                if discardedBytes > 0 {
                    let length = discardedBytes + (newline - lineStart)
                    discardedBytes = 0
                    return (lineNumber, .tooLong(length))
                }
                if let line = trimmedLine(lineStart, newline) { return (lineNumber, line) }
                continue
            }
            scanFrom = end - start
            if atEOF {
                guard start < end || discardedBytes > 0 else { return nil }
                let lineStart = start
                start = end
                scanFrom = 0
                lineNumber += 1
                if discardedBytes > 0 {
                    let length = discardedBytes + (end - lineStart)
                    discardedBytes = 0
                    return (lineNumber, .tooLong(length))
                }
                if let line = trimmedLine(lineStart, end) { return (lineNumber, line) }
                return nil
            }
            if end - start > maxLineBytes + 1 {
                // Too long to be accepted even without "\r": drop what we have, keep looking for its end.
                discardedBytes += end - start
                start = end
                scanFrom = 0
            }
            try refill()
        }
    }

    /// The line in `[from, to)` without a trailing `\r`, or nil when it is blank.
    private func trimmedLine(_ from: Int, _ to: Int) -> RawLine? {
        var to = to
        let bytes = storage.baseAddress!.assumingMemoryBound(to: UInt8.self)
        if to > from && bytes[to - 1] == 0x0D { to -= 1 }
        var blank = true
        for i in from..<to {
            let b = bytes[i]
            if b != 0x20 && b != 0x09 && b != 0x0D { blank = false; break }
        }
        if blank { return nil }
        return .bytes(UnsafeRawBufferPointer(start: bytes + from, count: to - from))
    }

    /// Moves unconsumed bytes to the front and reads the next chunk.
    private func refill() throws(LineReaderError) {
        let base = storage.baseAddress!
        if start > 0 {
            let pending = end - start
            if pending > 0 { memmove(base, base + start, pending) }
            start = 0
            end = pending
        }
        let room = min(chunkSize, storage.count - end)
        while true {
            let n = read(fd, base + end, room)
            if n > 0 {
                end += n
                return
            }
            if n == 0 {
                atEOF = true
                return
            }
            if errno == EINTR { continue }
            throw LineReaderError(code: .readFailed, path: path, errno: errno)
        }
    }
}

/// Reads a JSON-lines file of events, one ``Event`` per line, streaming it in chunks.
///
/// Every non-blank line yields its 1-based line number (counting blank lines, so numbers match
/// an editor) and either the event or the ``DecodeFailure``; malformed lines never stop the
/// reader. Lines may end with `\n` or `\r\n`; the last line needs no terminator. A line longer
/// than the decoder's ``DecoderLimits/maxMessageBytes`` is reported as `too_large` without
/// being buffered. `"-"` reads standard input.
public final class EventLineReader {
    private let splitter: LineSplitter
    /// The decoder applied to each line.
    public let decoder: EventDecoder

    /// Opens `path` for reading.
    /// - Parameters:
    ///   - path: the file, or `"-"` for standard input.
    ///   - decoder: decodes each line; its limits bound the buffered line length.
    ///   - chunkSize: bytes read per system call (default 1 MiB).
    /// - Throws: ``LineReaderError`` when the file cannot be opened.
    public init(path: String, decoder: EventDecoder = EventDecoder(), chunkSize: Int = 1 << 20) throws(LineReaderError) {
        self.decoder = decoder
        splitter = try LineSplitter(path: path, chunkSize: chunkSize, maxLineBytes: decoder.limits.maxMessageBytes)
    }

    /// The next non-blank line: its number and decoded event or failure; nil at the end of the file.
    /// - Throws: ``LineReaderError`` when reading fails.
    public func next() throws(LineReaderError) -> (lineNumber: Int, result: Result<Event, DecodeFailure>)? {
        guard let (number, line) = try splitter.nextLine() else { return nil }
        switch line {
        case .bytes(let bytes):
            return (number, decoder.decodeResult(bytes))
        case .tooLong(let length):
            return (number, .failure(tooLongFailure(length, limit: decoder.limits.maxMessageBytes)))
        }
    }
}

/// Reads a JSON-lines file of ``UserQuery`` lines (`{"user_id":"7","user_features":{...}}`),
/// with the same line handling as ``EventLineReader``. Other keys are skipped, so event files
/// with impressions can be used as query files.
public final class UserQueryLineReader {
    private let splitter: LineSplitter
    /// The decoder applied to each line (only its limits matter for queries).
    public let decoder: EventDecoder

    /// Opens `path` for reading (`"-"` for standard input).
    /// - Throws: ``LineReaderError`` when the file cannot be opened.
    public init(path: String, decoder: EventDecoder = EventDecoder(), chunkSize: Int = 1 << 20) throws(LineReaderError) {
        self.decoder = decoder
        splitter = try LineSplitter(path: path, chunkSize: chunkSize, maxLineBytes: decoder.limits.maxMessageBytes)
    }

    /// The next non-blank line: its number and decoded query or failure; nil at the end of the file.
    /// - Throws: ``LineReaderError`` when reading fails.
    public func next() throws(LineReaderError) -> (lineNumber: Int, result: Result<UserQuery, DecodeFailure>)? {
        guard let (number, line) = try splitter.nextLine() else { return nil }
        switch line {
        case .bytes(let bytes):
            do {
                return (number, .success(try decoder.decodeUserQuery(bytes)))
            } catch {
                return (number, .failure(error))
            }
        case .tooLong(let length):
            return (number, .failure(tooLongFailure(length, limit: decoder.limits.maxMessageBytes)))
        }
    }
}

private func tooLongFailure(_ length: Int, limit: Int) -> DecodeFailure {
    DecodeFailure(reason: .tooLarge, message: "the line has \(length) bytes, more than the limit of \(limit)")
}
