import Foundation
@testable import KairanCore
@testable import KairanFiles
import Testing

/// What the server does to a file before keeping it: its real type read from its bytes, and
/// every trace of where and by whom a photo was taken removed (APPI: residents post photos
/// of their children).
@Suite struct AttachmentFileTests {
    static func contains(_ bytes: [UInt8], _ text: String) -> Bool {
        let needle = Array(text.utf8)
        guard bytes.count >= needle.count else { return false }
        return (0...(bytes.count - needle.count)).contains { bytes[$0..<($0 + needle.count)].elementsEqual(needle) }
    }

    /// Everything the fixtures carry that identifies a place, a person or a device.
    static let secrets = ["KairanCam", "Model-Z", "Yamada", "SN-0042", "Minamichita", "Sakura", "MOTIONVIDEO", "xmpmeta", "GPS"]

    @Test func aPhoneJPEGLosesItsLocationAndOwnerButKeepsItsOrientation() throws {
        let original = AttachmentFixtures.jpegWithGPS
        for secret in ["KairanCam", "SN-0042", "Minamichita", "Sakura", "MOTIONVIDEO"] {
            #expect(Self.contains(original, secret), "the fixture should carry \(secret)")
        }
        let file = try FileInspector.inspect(original)
        #expect(file.kind == .jpeg)
        #expect(file.width == 16 && file.height == 8)
        for secret in Self.secrets {
            #expect(!Self.contains(file.bytes, secret), "\(secret) survived")
        }
        // The photo still stands the way it was taken: one EXIF block, orientation only.
        #expect(file.bytes.starts(with: [0xFF, 0xD8]))
        #expect(Array(file.bytes.suffix(2)) == [0xFF, 0xD9])
        let exif = try #require(Self.app1(file.bytes))
        #expect(JPEGCleaner.exifOrientation(exif) == 6)
        #expect(exif.count == 26, "only the orientation tag is left")
        // Cleaning again changes nothing.
        #expect(try FileInspector.inspect(file.bytes) == file)
    }

    /// The TIFF structure of the first APP1 Exif segment.
    static func app1(_ bytes: [UInt8]) -> [UInt8]? {
        var index = 2
        while index + 4 < bytes.count, bytes[index] == 0xFF {
            let marker = bytes[index + 1]
            let length = Int(bytes[index + 2]) << 8 | Int(bytes[index + 3])
            if marker == 0xE1 { return Array(bytes[(index + 4 + 6)..<(index + 2 + length)]) }
            if marker == 0xDA { return nil }
            index += 2 + length
        }
        return nil
    }

    @Test func aPNGKeepsItsPixelsAndLosesItsTextAndEXIF() throws {
        let original = AttachmentFixtures.pngWithText
        #expect(Self.contains(original, "tEXt") && Self.contains(original, "eXIf") && Self.contains(original, "iTXt"))
        let file = try FileInspector.inspect(original)
        #expect(file.kind == .png && file.width == 8 && file.height == 4)
        for chunk in ["tEXt", "iTXt", "zTXt", "eXIf", "Yamada"] {
            #expect(!Self.contains(file.bytes, chunk), "\(chunk) survived")
        }
        #expect(Self.contains(file.bytes, "IDAT") && Self.contains(file.bytes, "IEND"))
        #expect(try FileInspector.inspect(file.bytes) == file)
    }

    @Test func aWebPLosesItsEXIFAndXMPChunksAndSaysSoInItsHeader() throws {
        let original = AttachmentFixtures.webpWithEXIF
        #expect(Self.contains(original, "EXIF") && Self.contains(original, "XMP "))
        let file = try FileInspector.inspect(original)
        #expect(file.kind == .webp && file.width == 10 && file.height == 6)
        for secret in ["EXIF", "XMP ", "KairanCam", "Minamichita", "SN-0042"] {
            #expect(!Self.contains(file.bytes, secret), "\(secret) survived")
        }
        // The RIFF size is the file's, and VP8X no longer announces EXIF (0x08) or XMP (0x04).
        let size = Int(file.bytes[4]) | Int(file.bytes[5]) << 8 | Int(file.bytes[6]) << 16 | Int(file.bytes[7]) << 24
        #expect(size + 8 == file.bytes.count)
        #expect(String(decoding: file.bytes[12..<16], as: UTF8.self) == "VP8X")
        #expect(file.bytes[20] & 0x0C == 0)
        #expect(try FileInspector.inspect(file.bytes) == file)
    }

    @Test func aPDFIsKeptAsItIsAndOneCutShortIsRefused() throws {
        let file = try FileInspector.inspect(AttachmentFixtures.pdf)
        #expect(file.kind == .pdf && file.bytes == AttachmentFixtures.pdf && file.width == nil)
        #expect(throws: FileRefusal.self) { try FileInspector.inspect(Array(AttachmentFixtures.pdf.dropLast(12))) }
    }

    @Test func theTypeComesFromTheBytesNotTheName() throws {
        #expect(throws: FileRefusal.heic) { try FileInspector.inspect(AttachmentFixtures.heicHeader) }
        #expect(throws: FileRefusal.unsupported(detected: "GIF")) { try FileInspector.inspect(Array("GIF89a\u{1}\u{0}\u{1}\u{0}".utf8)) }
        #expect(throws: FileRefusal.unsupported(detected: nil)) { try FileInspector.inspect(Array("<svg onload=alert(1)>".utf8)) }
        #expect(throws: FileRefusal.unsupported(detected: "ZIP/Office")) { try FileInspector.inspect([0x50, 0x4B, 0x03, 0x04, 0, 0]) }
        #expect(throws: FileRefusal.empty) { try FileInspector.inspect([]) }
    }

    @Test func aHEICPhotoSaysItsSizeBeforeItIsDecoded() throws {
        // The largest ispe: here the 64×64 tile of a 16×8 grid (an upper bound is what the
        // pixel limit needs).
        let size = try #require(FileInspector.heifImageSize(AttachmentFixtures.heicPortrait))
        #expect(size.width == 64 && size.height == 64)
        let claimed = try #require(FileInspector.heifImageSize(AttachmentFixtures.heicClaiming(width: 0xFFFF_FFFF, height: 0xFFFF_FFFF)))
        #expect(claimed.width == 0xFFFF_FFFF, "no overflow on a claim of 2^32 × 2^32")
        #expect(FileInspector.heifImageSize(AttachmentFixtures.heicHeader) == nil)
        #expect(FileInspector.heifImageSize(Array(AttachmentFixtures.heicPortrait.prefix(40))) == nil)
    }

    @Test func aConvertedPhotoLosesItsOrientationTagBecauseItsPixelsAlreadyStand() throws {
        let kept = try FileInspector.inspect(AttachmentFixtures.jpegWithGPS)
        #expect(Self.contains(kept.bytes, "Exif"), "an upload keeps its orientation (6)")
        let applied = try FileInspector.inspect(AttachmentFixtures.jpegWithGPS, orientationApplied: true)
        #expect(!Self.contains(applied.bytes, "Exif") && applied.width == 16 && applied.height == 8)
    }

    @Test func aChildProgramGetsOnlyTheEnvironmentGivenAndIsKilledWhenItRunsTooLong() throws {
        let env = try ChildProcess.run("/usr/bin/env", [], environment: ["LANG=C"])
        #expect(env.status == 0 && env.output == "LANG=C\n")
        let started = ContinuousClock.now
        let slow = try ChildProcess.run("/bin/sleep", ["30"], environment: [], timeout: .milliseconds(200))
        #expect(slow.timedOut && slow.status == 128 + SIGKILL)
        #expect(ContinuousClock.now - started < .seconds(25), "killed, not waited for")
        let abandoned = try ChildProcess.run("/bin/sleep", ["30"], environment: [], timeout: .seconds(60), cancelled: { true })
        #expect(abandoned.cancelled && !abandoned.timedOut && abandoned.status == 128 + SIGKILL)
    }

    @Test func aChildProgramGetsNoneOfOurDescriptors() throws {
        // Ours: a file and a socket left open while the child runs.
        let file = open("/dev/null", O_RDONLY)
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(file); close(socket) }
        let listed = try ChildProcess.run("/bin/ls", ["/proc/self/fd"], environment: [])
        // 0, 1 and 2, and ls's own handle on the folder it lists.
        #expect(listed.output.split(separator: "\n") == ["0", "1", "2", "3"], "\(listed.output)")
    }

    @Test func oneAccountConvertsOnePhotoAtATime() async throws {
        let converter = try #require(HEICConverter.installed(), "heif-convert is missing: apt install libheif-examples")
        #expect(converter.turns.enter(7))
        await #expect(throws: HEICConverter.Failure.busy) { try await converter.convert(AttachmentFixtures.heicPortrait, for: 7) }
        let other = try await converter.convert(AttachmentFixtures.heicPortrait, for: 8)
        #expect(other.starts(with: [0xFF, 0xD8, 0xFF]))
        converter.turns.leave(7)
        #expect(try await converter.convert(AttachmentFixtures.heicPortrait, for: 7).starts(with: [0xFF, 0xD8, 0xFF]))
    }

    @Test func imagesCutShortOrForgedAreRefused() throws {
        let jpeg = AttachmentFixtures.jpegWithGPS
        // Cut inside the scan: no end marker.
        let cut = Array(jpeg.prefix(jpeg.count - 200))
        #expect { try FileInspector.inspect(cut) } throws: { error in
            if case .damaged(.jpeg, _) = error as? FileRefusal { return true }
            return false
        }
        // Only the magic bytes of each kind.
        for header in [[0xFF, 0xD8, 0xFF, 0xE0, 0x00], [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13], Array("RIFF\u{4}\u{0}\u{0}\u{0}WEBP".utf8)] as [[UInt8]] {
            #expect(throws: FileRefusal.self) { try FileInspector.inspect(header) }
        }
        let png = AttachmentFixtures.pngWithText
        #expect(throws: FileRefusal.self) { try FileInspector.inspect(Array(png.prefix(png.count - 12))) }
    }

    /// A scan whose data starts with a stuffed 0xFF (a progressive JPEG's refinement scan
    /// often does) is image data, not a marker.
    @Test func aScanStartingWithAStuffedByteIsKept() throws {
        let jpeg: [UInt8] = [0xFF, 0xD8,
                             0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00, 0x01, 0x00, 0x01, 0x01, 0x01, 0x11, 0x00,
                             0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00,
                             0xFF, 0x00, 0x12, 0xFF, 0xD0, 0x34,
                             0xFF, 0xD9]
        let file = try FileInspector.inspect(jpeg)
        #expect(file.bytes == jpeg && file.width == 1 && file.height == 1)
    }

    /// A few bytes of PNG may claim 40000×40000 pixels: refused before a phone tries to draw it.
    @Test func anImageWithMorePixelsThanAPhoneCanShowIsRefused() throws {
        #expect(throws: FileRefusal.tooManyPixels(width: 40000, height: 40000)) { try FileInspector.inspect(AttachmentFixtures.hugePNG) }
    }

    /// AWS's own example for a signed GET (S3 API reference, "Signature Calculations for the
    /// Authorization Header", GET Object): the signature must match theirs exactly.
    @Test func requestsToTheObjectStoreAreSignedAsAWSSpecifies() {
        let signer = S3Signer(accessKey: "AKIAIOSFODNN7EXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", region: "us-east-1")
        var headers = [("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9"), ("x-amz-content-sha256", S3Signer.emptyPayloadHash)]
        let (date, authorization) = signer.authorization(method: "GET", path: "/test.txt", query: "", headers: &headers,
                                                         payloadHash: S3Signer.emptyPayloadHash, now: Date(timeIntervalSince1970: 1_369_353_600))
        #expect(date == "20130524T000000Z")
        #expect(authorization == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }
}
