import Crypto
import Foundation
import NIOCore

/// Where attachment bytes live, by the SHA-256 of their content (hex): the same photo posted
/// twice is stored once, and a key never changes what it names. The database says which
/// keys are in use; a store only keeps bytes.
///
/// Two implementations: `LocalFileStore` (a folder under the data directory, the default)
/// and `S3FileStore` (any S3-compatible object store, for a town that runs more than one
/// machine).
public protocol FileStore: Sendable {
    /// Stores `bytes` under `key`. Storing the same key again is harmless; when this returns,
    /// the bytes survive a crash.
    func put(_ key: FileKey, bytes: ByteBuffer, contentType: String) async throws
    /// The stored bytes, in pieces, or nil when the key holds nothing.
    func open(_ key: FileKey) async throws -> StoredFile?
    /// Removes the bytes; removing what is not there is not an error.
    func delete(_ key: FileKey) async throws
    /// Removes what writes that never finished (a crash mid-write) left behind before
    /// `cutoff`; returns how many.
    func removeAbandonedWrites(olderThan cutoff: Date) async throws -> Int
}

extension FileStore {
    /// An object store keeps nothing of a PUT that did not finish.
    public func removeAbandonedWrites(olderThan cutoff: Date) async throws -> Int { 0 }
}

/// A content address: 64 lowercase hex digits.
public struct FileKey: Sendable, Hashable, CustomStringConvertible {
    public let hex: String

    public init?(hex: String) {
        guard hex.utf8.count == 64, hex.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else { return nil }
        self.hex = hex
    }

    /// The key of these bytes: their SHA-256.
    public init(of bytes: [UInt8]) {
        hex = S3Signer.hex(SHA256.hash(data: bytes))
    }

    public var description: String { hex }
}

/// An opened file: its length, and its bytes as they are read.
public struct StoredFile: Sendable {
    public let byteCount: Int
    public let chunks: AsyncThrowingStream<ByteBuffer, any Error>

    public init(byteCount: Int, chunks: AsyncThrowingStream<ByteBuffer, any Error>) {
        self.byteCount = byteCount
        self.chunks = chunks
    }
}

public enum FileStoreError: Error, CustomStringConvertible {
    /// The object store answered something else than success.
    case remote(status: Int, operation: String)
    /// A stored file's length is not what was written (a disk or bucket that lost bytes).
    case corrupt(FileKey)

    public var description: String {
        switch self {
        case .remote(let status, let operation): "object store answered \(status) to \(operation)"
        case .corrupt(let key): "stored file \(key.hex.prefix(12))… is not the length written"
        }
    }
}
