import Foundation
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Turns an iPhone's HEIC photo into a JPEG with libheif's `heif-convert` (Debian's
/// `libheif-examples`), one photo at a time, each in a process of its own.
///
/// Why a process and not the library in ours: decoding HEVC means a large C decoder reading a
/// stranger's bytes. A crash or a runaway there ends one conversion, not the server with its
/// sockets. The child gets none of our descriptors, an environment without our secrets
/// (object-store keys, the database password), an address-space and CPU limit (`prlimit`) and
/// a wall-clock time; its files live in a folder of its own that is removed afterwards. It
/// runs as the server's user: a town that wants more puts the converter in a sandbox of its
/// own (`--heic-converter` names any program taking heif-convert's arguments).
///
/// One photo of an account's at a time and a few waiting in all (`Failure.busy`), so nobody
/// can keep the converter's core busy for everyone else; a request that ends (its client
/// left, its time ran out) kills its conversion.
///
/// The JPEG it writes still carries the photo's EXIF (GPS included) and an orientation tag
/// that the converted pixels no longer need: the caller strips it like any upload, orientation
/// included (`FileInspector.inspect(_:orientationApplied:)`).
public struct HEICConverter: Sendable {
    public let executable: String
    /// `prlimit` (util-linux): the limits are set in the child before it starts the converter.
    let prlimit: String
    public var timeout: Duration = .seconds(30)
    /// Enough for a 50-megapixel photo's planes and the JPEG encoder.
    public var memoryLimitBytes = 2 << 30
    /// JPEG quality: a phone photo of about the HEIC's size.
    public var quality = 88
    /// Conversions running or waiting in this process, and the accounts they are for.
    let turns = Turns(limit: 4)

    /// One thread of its own: conversions wait their turn (at most one at a time per process,
    /// on a machine the API shares) without holding the threads file reads and inspections
    /// run on.
    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        return pool
    }()

    /// nil when `executable` is not a program this process may run, or there is no
    /// `prlimit` to bound it (a decoder without limits is not run at all).
    public init?(executable: String) {
        guard access(executable, X_OK) == 0, let prlimit = ["/usr/bin/prlimit", "/bin/prlimit"].first(where: { (path: String) in access(path, X_OK) == 0 }) else {
            return nil
        }
        self.executable = executable
        self.prlimit = prlimit
    }

    /// Debian's place for it, or /usr/local's.
    public static func installed() -> HEICConverter? {
        ["/usr/bin/heif-convert", "/usr/local/bin/heif-convert"].lazy.compactMap { HEICConverter(executable: $0) }.first
    }

    public enum Failure: Error, Equatable {
        /// The converter could not read the file; `detail` is its own message (never a file
        /// name of the uploader's: the files are named by us).
        case unreadable(detail: String)
        case timedOut
        /// This account already has a photo converting, or enough wait: try again shortly.
        case busy
        /// The request ended while its photo was converting.
        case cancelled
    }

    /// Who is converting: at most one photo per account, `limit` in all (running and waiting).
    final class Turns: Sendable {
        let limit: Int
        let accounts = Mutex<Set<Int64>>([])
        init(limit: Int) { self.limit = limit }

        func enter(_ account: Int64) -> Bool {
            accounts.withLock { accounts in
                guard accounts.count < limit, !accounts.contains(account) else { return false }
                accounts.insert(account)
                return true
            }
        }

        func leave(_ account: Int64) {
            _ = accounts.withLock { $0.remove(account) }
        }
    }

    final class CancelFlag: Sendable {
        let value = Mutex(false)
    }

    /// - Parameter account: whose photo it is (one at a time each).
    public func convert(_ heic: [UInt8], for account: Int64) async throws -> [UInt8] {
        guard turns.enter(account) else { throw Failure.busy }
        defer { turns.leave(account) }
        let flag = CancelFlag()
        return try await withTaskCancellationHandler {
            try await Self.pool.runIfActive { try convertNow(heic, cancelled: { flag.value.withLock { $0 } }) }
        } onCancel: {
            flag.value.withLock { $0 = true }
        }
    }

    func convertNow(_ heic: [UInt8], cancelled: @escaping @Sendable () -> Bool = { false }) throws -> [UInt8] {
        // Waited its turn for nothing: its request is over.
        if cancelled() { throw Failure.cancelled }
        var template = Array((FileManager.default.temporaryDirectory.path + "/kairan-heic-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            throw ChildProcess.SpawnError(description: "could not make a folder for a conversion: \(String(cString: strerror(errno)))")
        }
        let folder = String(cString: made)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let input = folder + "/photo.heic", output = folder + "/photo.jpg"
        guard FileManager.default.createFile(atPath: input, contents: Data(heic), attributes: [.posixPermissions: 0o600]) else {
            throw ChildProcess.SpawnError(description: "could not write a photo to convert")
        }
        let cpuSeconds = max(1, Int(timeout.components.seconds))
        // No core file (a photo's pixels on disk), no file beyond 64 MB (a JPEG of 50 MP is
        // far less), and the memory and CPU above.
        let arguments = ["--as=\(memoryLimitBytes)", "--cpu=\(cpuSeconds)", "--core=0", "--fsize=\(64 << 20)", "--",
                         executable, "--quiet", "-q", "\(quality)", input, output]
        let result = try ChildProcess.run(prlimit, arguments, environment: ["PATH=/usr/bin:/bin", "LANG=C"], timeout: timeout, cancelled: cancelled)
        if result.cancelled { throw Failure.cancelled }
        if result.timedOut { throw Failure.timedOut }
        // A file holding several images (a burst) is written as photo-1.jpg, photo-2.jpg…:
        // the first is the one shown.
        if result.status == 0, let data = [output, folder + "/photo-1.jpg"].lazy.compactMap(FileManager.default.contents(atPath:)).first {
            return Array(data)
        }
        let detail = result.output.split(whereSeparator: \.isNewline).last.map(String.init) ?? "exit status \(result.status)"
        throw Failure.unreadable(detail: String(detail.prefix(200)))
    }
}
