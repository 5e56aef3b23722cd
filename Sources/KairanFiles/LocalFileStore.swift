import Foundation
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// Files in a folder, two levels of fan-out by the key's first hex digits
/// (`ab/cd/abcd…`) so no folder grows past a few thousand entries.
///
/// A file is written under a temporary name in `.incoming/`, flushed to disk, renamed into
/// place and its folder flushed: a crash leaves either the whole file or none, and at worst
/// a temporary file that `removeAbandonedWrites` sweeps a day later.
public struct LocalFileStore: FileStore {
    public let directory: String
    let threadPool: NIOThreadPool
    static let chunkSize = 256 * 1024

    /// The folder is made by the first write (`kairan serve` makes it at start, so a data
    /// directory it cannot write to stops it there).
    public init(directory: String, threadPool: NIOThreadPool = .singleton) {
        self.directory = directory
        self.threadPool = threadPool
    }

    func folder(_ key: FileKey) -> String {
        let hex = key.hex.utf8
        return directory + "/" + String(decoding: hex.prefix(2), as: UTF8.self) + "/" + String(decoding: hex.dropFirst(2).prefix(2), as: UTF8.self)
    }

    func path(_ key: FileKey) -> String { folder(key) + "/" + key.hex }

    /// Where files are written before they are renamed into place (same file system).
    var incoming: String { directory + "/.incoming" }

    public func removeAbandonedWrites(olderThan cutoff: Date) async throws -> Int {
        let incoming = incoming
        return try await threadPool.runIfActive {
            var removed = 0
            for name in (try? FileManager.default.contentsOfDirectory(atPath: incoming)) ?? [] where name.hasSuffix(".tmp") {
                let path = incoming + "/" + name
                guard let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date, modified < cutoff else { continue }
                if unlink(path) == 0 { removed += 1 }
            }
            return removed
        }
    }

    public func put(_ key: FileKey, bytes: ByteBuffer, contentType: String) async throws {
        let folder = folder(key)
        let path = path(key)
        let incoming = incoming
        try await threadPool.runIfActive {
            if let attributes = try? FileManager.default.attributesOfItem(atPath: path),
               (attributes[.size] as? NSNumber)?.intValue == bytes.readableBytes {
                return
            }
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: incoming, withIntermediateDirectories: true)
            let temporary = incoming + "/\(key.hex).\(UInt64.random(in: 0...UInt64.max)).tmp"
            let fd = posixOpen(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
            guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            var failed: POSIXErrorCode?
            bytes.withUnsafeReadableBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let written = write(fd, raw.baseAddress! + offset, raw.count - offset)
                    if written < 0 {
                        if errno == EINTR { continue }
                        failed = POSIXErrorCode(rawValue: errno) ?? .EIO
                        return
                    }
                    offset += written
                }
            }
            if failed == nil, fsync(fd) != 0 { failed = POSIXErrorCode(rawValue: errno) ?? .EIO }
            close(fd)
            if let failed {
                unlink(temporary)
                throw POSIXError(failed)
            }
            guard rename(temporary, path) == 0 else {
                let code = POSIXErrorCode(rawValue: errno) ?? .EIO
                unlink(temporary)
                throw POSIXError(code)
            }
            let folderFD = posixOpen(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if folderFD >= 0 {
                fsync(folderFD)
                close(folderFD)
            }
        }
    }

    public func open(_ key: FileKey) async throws -> StoredFile? {
        let path = path(key)
        let threadPool = threadPool
        let handle: (FileHandle, Int)? = try await threadPool.runIfActive {
            guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
            let size = try handle.seekToEnd()
            try handle.seek(toOffset: 0)
            return (handle, Int(size))
        }
        guard let (handle, size) = handle else { return nil }
        let reader = ChunkReader(handle, size: size, key: key, threadPool: threadPool)
        // Read when the response asks for the next piece: a slow phone holds one piece, not
        // the whole file.
        let chunks = AsyncThrowingStream<ByteBuffer, any Error>(unfolding: { try await reader.next() })
        return StoredFile(byteCount: size, chunks: chunks)
    }

    public func delete(_ key: FileKey) async throws {
        let path = path(key)
        try await threadPool.runIfActive {
            if unlink(path) != 0, errno != ENOENT { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        }
    }
}

/// `open(2)`: inside the store its own `open` hides the C one.
private func posixOpen(_ path: String, _ flags: Int32, _ mode: mode_t = 0) -> Int32 {
    open(path, flags, mode)
}

/// A file read piece by piece by its one consumer (the response being written), and closed
/// at its end, on an error, or when the consumer goes away.
private final class ChunkReader: @unchecked Sendable {
    private let handle: FileHandle
    private let size: Int
    private let key: FileKey
    private let threadPool: NIOThreadPool
    private var total = 0
    private var closed = false

    init(_ handle: FileHandle, size: Int, key: FileKey, threadPool: NIOThreadPool) {
        self.handle = handle
        self.size = size
        self.key = key
        self.threadPool = threadPool
    }

    deinit { if !closed { try? handle.close() } }

    func next() async throws -> ByteBuffer? {
        guard !closed else { return nil }
        let handle = handle
        let data: Data
        do {
            data = try await threadPool.runIfActive { try handle.read(upToCount: LocalFileStore.chunkSize) ?? Data() }
        } catch {
            close()
            throw error
        }
        guard !data.isEmpty else {
            close()
            if total != size { throw FileStoreError.corrupt(key) }
            return nil
        }
        total += data.count
        return ByteBuffer(bytes: data)
    }

    private func close() {
        closed = true
        try? handle.close()
    }
}
