import Foundation
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// Files in a folder, two levels of fan-out by the key's first hex digits
/// (`ab/cd/abcd…`) so no folder grows past a few thousand entries.
///
/// A file is written under a temporary name, flushed to disk, renamed into place and its
/// folder flushed: a crash leaves either the whole file or none (a stray temporary file at
/// worst, which the next write of the same key replaces).
public struct LocalFileStore: FileStore {
    public let directory: String
    let threadPool: NIOThreadPool
    static let chunkSize = 256 * 1024

    public init(directory: String, threadPool: NIOThreadPool = .singleton) throws {
        self.directory = directory
        self.threadPool = threadPool
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    func folder(_ key: FileKey) -> String {
        let hex = key.hex.utf8
        return directory + "/" + String(decoding: hex.prefix(2), as: UTF8.self) + "/" + String(decoding: hex.dropFirst(2).prefix(2), as: UTF8.self)
    }

    func path(_ key: FileKey) -> String { folder(key) + "/" + key.hex }

    public func put(_ key: FileKey, bytes: ByteBuffer, contentType: String) async throws {
        let folder = folder(key)
        let path = path(key)
        try await threadPool.runIfActive {
            if let attributes = try? FileManager.default.attributesOfItem(atPath: path),
               (attributes[.size] as? NSNumber)?.intValue == bytes.readableBytes {
                return
            }
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let temporary = folder + "/.\(key.hex).\(UInt64.random(in: 0...UInt64.max)).tmp"
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
        let box = HandleBox(handle)
        let chunks = AsyncThrowingStream<ByteBuffer, any Error> { continuation in
            let reading = Task {
                defer { try? box.handle.close() }
                do {
                    var total = 0
                    while !Task.isCancelled {
                        let data = try await threadPool.runIfActive { try box.handle.read(upToCount: Self.chunkSize) ?? Data() }
                        if data.isEmpty { break }
                        total += data.count
                        continuation.yield(ByteBuffer(bytes: data))
                    }
                    if total != size, !Task.isCancelled { throw FileStoreError.corrupt(key) }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in reading.cancel() }
        }
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

/// A file handle read by one task at a time (the stream's reader).
private final class HandleBox: @unchecked Sendable {
    let handle: FileHandle
    init(_ handle: FileHandle) { self.handle = handle }
}
