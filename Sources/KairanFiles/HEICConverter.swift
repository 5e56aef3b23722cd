import Foundation
import NIOPosix

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
/// a wall-clock time; its files live in a folder of its own that is removed afterwards.
///
/// The JPEG it writes still carries the photo's EXIF (GPS included) and an orientation tag
/// that the converted pixels no longer need: the caller strips it like any upload, orientation
/// included (`FileInspector.inspect(_:orientationApplied:)`).
public struct HEICConverter: Sendable {
    public let executable: String
    /// `prlimit` (util-linux), when there is one: the limits are set in the child before it
    /// starts the converter.
    let prlimit: String?
    public var timeout: Duration = .seconds(30)
    /// Enough for a 50-megapixel photo's planes and the JPEG encoder.
    public var memoryLimitBytes = 2 << 30
    /// JPEG quality: a phone photo of about the HEIC's size.
    public var quality = 88

    /// One thread of its own: conversions wait their turn (at most one at a time per process,
    /// on a machine the API shares) without holding the threads file reads and inspections
    /// run on.
    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        return pool
    }()

    /// nil when `executable` is not a program this process may run.
    public init?(executable: String) {
        guard access(executable, X_OK) == 0 else { return nil }
        self.executable = executable
        prlimit = ["/usr/bin/prlimit", "/bin/prlimit"].first { access($0, X_OK) == 0 }
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
    }

    public func convert(_ heic: [UInt8]) async throws -> [UInt8] {
        try await Self.pool.runIfActive { try convertNow(heic) }
    }

    func convertNow(_ heic: [UInt8]) throws -> [UInt8] {
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
        let convert = [executable, "--quiet", "-q", "\(quality)", input, output]
        let command: (String, [String])
        if let prlimit {
            let cpuSeconds = max(1, Int(timeout.components.seconds))
            command = (prlimit, ["--as=\(memoryLimitBytes)", "--cpu=\(cpuSeconds)", "--core=0", "--"] + convert)
        } else {
            command = (executable, Array(convert.dropFirst()))
        }
        let result = try ChildProcess.run(command.0, command.1, environment: ["PATH=/usr/bin:/bin", "LANG=C"], timeout: timeout)
        if result.timedOut { throw Failure.timedOut }
        // A file holding several images (a burst) is written as photo-1.jpg, photo-2.jpg…:
        // the first is the one shown.
        for candidate in [output, folder + "/photo-1.jpg"] {
            if result.status == 0, let data = FileManager.default.contents(atPath: candidate) { return Array(data) }
        }
        let detail = result.output.split(whereSeparator: \.isNewline).last.map(String.init) ?? "exit status \(result.status)"
        throw Failure.unreadable(detail: String(detail.prefix(200)))
    }
}
