public typealias AttachmentID = Int64

/// The kinds of file a post or notice may carry: photos (JPEG, PNG, WebP) and PDF.
public enum AttachmentKind: String, Sendable, Codable, CaseIterable {
    case jpeg = "image/jpeg"
    case png = "image/png"
    case webp = "image/webp"
    case pdf = "application/pdf"

    public var isImage: Bool { self != .pdf }

    /// What a page calls it: 「写真」 or 「PDF」.
    public var label: String { isImage ? "写真" : "PDF" }

    /// A file's size as a page says it: "340 KB", "1.2 MB".
    public static func sizeText(_ bytes: Int) -> String {
        let kilobytes = max(1, (bytes + 1023) >> 10)
        guard kilobytes >= 1024 else { return "\(kilobytes) KB" }
        let tenths = (bytes * 10 + (1 << 19)) >> 20
        return "\(tenths / 10).\(tenths % 10) MB"
    }

    /// The extension a stored file's name ends with, whatever the uploader called it.
    public var fileExtension: String {
        switch self {
        case .jpeg: "jpg"
        case .png: "png"
        case .webp: "webp"
        case .pdf: "pdf"
        }
    }
}

/// A file after inspection: its real kind (read from its bytes, never from its name), its
/// bytes with the metadata that could identify a place or a person removed, and an image's
/// size in pixels.
public struct InspectedFile: Sendable, Equatable {
    public let kind: AttachmentKind
    public let bytes: [UInt8]
    public let width: Int?
    public let height: Int?
}

/// Why a file was refused.
public enum FileRefusal: Error, Equatable, Sendable {
    case empty
    /// HEIC/HEIF (iPhone photos in 高効率 format): converted to JPEG by the server when it has
    /// a converter (`HEICConverter`), refused with advice when it has none.
    case heic
    /// Not one of the kinds above; `detected` names what it looked like when known.
    case unsupported(detected: String?)
    /// Claims to be a kind (by its first bytes) but does not hold together.
    case damaged(AttachmentKind, String)
    /// More pixels than a phone can show (a few megabytes of PNG can say 30000×30000).
    case tooManyPixels(width: Int, height: Int)
}

/// Reads a file's real type from its bytes and removes its metadata.
///
/// Why strip and not just refuse: residents post photos of their children, and phones write
/// where a photo was taken (EXIF GPS), the camera's serial number and the owner's name into
/// it. JPEG keeps only what drawing needs (frame, tables, scans, JFIF, the ICC colour profile,
/// Adobe's colour transform) plus the orientation, rewritten as a minimal EXIF block of one
/// tag so a phone's portrait photo still stands upright; PNG keeps its drawing chunks (text,
/// time and EXIF chunks go); WebP loses its EXIF and XMP chunks and their flags. Anything
/// after a file's end (a phone's appended motion video, a second image) goes too.
public enum FileInspector {
    /// The most pixels a photo may have: 50 million (a 2026 phone's 48-megapixel photo fits).
    public static let maxPixels = 50_000_000

    /// - Parameter orientationApplied: the pixels already stand as they should (a JPEG made
    ///   from a HEIC photo, whose rotation the converter applied): the orientation tag goes too,
    ///   or a viewer would turn the photo a second time.
    public static func inspect(_ bytes: [UInt8], orientationApplied: Bool = false) throws(FileRefusal) -> InspectedFile {
        let file = try identify(bytes, orientationApplied: orientationApplied)
        if let width = file.width, let height = file.height { try checkPixels(width: width, height: height) }
        return file
    }

    /// At most 65,535 pixels a side and `maxPixels` in all: a photo's own size, or the size a
    /// HEIC photo claims before it is decoded.
    public static func checkPixels(width: Int, height: Int) throws(FileRefusal) {
        if width > 65_535 || height > 65_535 || width * height > maxPixels {
            throw .tooManyPixels(width: width, height: height)
        }
    }

    static func identify(_ bytes: [UInt8], orientationApplied: Bool = false) throws(FileRefusal) -> InspectedFile {
        guard !bytes.isEmpty else { throw .empty }
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return try JPEGCleaner.clean(bytes, keepOrientation: !orientationApplied) }
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return try PNGCleaner.clean(bytes) }
        if bytes.count >= 12, bytes.starts(with: Array("RIFF".utf8)), Array(bytes[8..<12]) == Array("WEBP".utf8) {
            return try WebPCleaner.clean(bytes)
        }
        if bytes.starts(with: Array("%PDF-".utf8)) { return try checkPDF(bytes) }
        if bytes.count >= 12, Array(bytes[4..<8]) == Array("ftyp".utf8) {
            let brand = String(decoding: bytes[8..<12], as: UTF8.self)
            if ["heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1"].contains(brand) { throw .heic }
            throw .unsupported(detected: brand.hasPrefix("avi") ? "AVIF" : "video (\(brand))")
        }
        if bytes.starts(with: Array("GIF8".utf8)) { throw .unsupported(detected: "GIF") }
        if bytes.starts(with: [0x50, 0x4B, 0x03, 0x04]) { throw .unsupported(detected: "ZIP/Office") }
        if bytes.starts(with: [0xD0, 0xCF, 0x11, 0xE0]) { throw .unsupported(detected: "Office (old format)") }
        throw .unsupported(detected: nil)
    }

    /// A PDF is kept as it is: its header, and an end-of-file marker near its end (a file
    /// cut off in transfer has none).
    static func checkPDF(_ bytes: [UInt8]) throws(FileRefusal) -> InspectedFile {
        let tail = bytes.suffix(1024)
        let marker = Array("%%EOF".utf8)
        guard tail.count >= marker.count, (tail.startIndex...(tail.endIndex - marker.count)).contains(where: { tail[$0..<($0 + marker.count)].elementsEqual(marker) }) else {
            throw .damaged(.pdf, "no %%EOF at the end: the file is incomplete")
        }
        return InspectedFile(kind: .pdf, bytes: bytes, width: nil, height: nil)
    }

    /// The size a HEIC photo says it has, read before it is decoded (so a file claiming
    /// 30000×30000 is refused without the work): the largest `ispe` property in its
    /// `meta`/`iprp`/`ipco` boxes. An iPhone photo is a grid of 512×512 tiles, each with its
    /// own `ispe`; the grid's is the largest. nil: no such box (not a HEIF image, or damaged).
    public static func heifImageSize(_ bytes: [UInt8]) -> (width: Int, height: Int)? {
        func read32(_ at: Int) -> Int { Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3]) }
        /// The boxes directly inside bytes[start..<end], as (type, payload start, end).
        func children(_ start: Int, _ end: Int) -> [(String, Int, Int)] {
            var found: [(String, Int, Int)] = []
            var at = start
            while at + 8 <= end {
                var size = read32(at)
                var header = 8
                if size == 1 {
                    // A 64-bit size: only mdat needs one; anything past 2^31 is not a photo.
                    guard at + 16 <= end, read32(at + 8) == 0 else { return found }
                    size = read32(at + 12)
                    header = 16
                } else if size == 0 {
                    size = end - at
                }
                guard size >= header, at + size <= end else { return found }
                found.append((String(decoding: bytes[(at + 4)..<(at + 8)], as: UTF8.self), at + header, at + size))
                at += size
            }
            return found
        }
        guard let meta = children(0, bytes.count).first(where: { $0.0 == "meta" }) else { return nil }
        // meta is a full box: a version and flags before its children.
        guard let iprp = children(meta.1 + 4, meta.2).first(where: { $0.0 == "iprp" }),
              let ipco = children(iprp.1, iprp.2).first(where: { $0.0 == "ipco" }) else { return nil }
        var best: (width: Int, height: Int, pixels: Int)?
        for property in children(ipco.1, ipco.2) where property.0 == "ispe" && property.2 - property.1 >= 12 {
            let width = read32(property.1 + 4), height = read32(property.1 + 8)
            let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
            let count = overflow ? Int.max : pixels
            if count > (best?.pixels ?? -1) { best = (width, height, count) }
        }
        return best.map { ($0.width, $0.height) }
    }
}

// MARK: - JPEG

enum JPEGCleaner {
    static func clean(_ input: [UInt8], keepOrientation: Bool = true) throws(FileRefusal) -> InspectedFile {
        func damaged(_ why: String) -> FileRefusal { .damaged(.jpeg, why) }
        var output: [UInt8] = [0xFF, 0xD8]
        output.reserveCapacity(input.count)
        var orientation: UInt16?
        var width: Int?
        var height: Int?
        var sawScan = false
        var index = 2
        // Where the orientation block goes: after SOI, or after a JFIF APP0 (JFIF wants to
        // be first).
        var orientationInsertAt = 2
        while true {
            guard index < input.count else { throw damaged("the image ends before its end marker") }
            guard input[index] == 0xFF else {
                // Entropy-coded data of a scan: copy up to the next marker.
                guard sawScan else { throw damaged("bytes outside a segment") }
                let start = index
                while index < input.count {
                    if input[index] == 0xFF, index + 1 < input.count {
                        let next = input[index + 1]
                        if next == 0x00 || (0xD0...0xD7).contains(next) { index += 2; continue }
                        break
                    }
                    index += 1
                }
                output.append(contentsOf: input[start..<index])
                continue
            }
            // Fill bytes before a marker.
            var markerAt = index + 1
            while markerAt < input.count, input[markerAt] == 0xFF { markerAt += 1 }
            guard markerAt < input.count else { throw damaged("the image ends before its end marker") }
            let marker = input[markerAt]
            index = markerAt + 1
            switch marker {
            case 0xD9:
                guard sawScan, let width, let height else { throw damaged("no image data") }
                output.append(contentsOf: [0xFF, 0xD9])
                if keepOrientation, let orientation, orientation != 1 {
                    output.insert(contentsOf: exifOrientationSegment(orientation), at: orientationInsertAt)
                }
                // Whatever follows the end marker (a motion photo's video, a second picture)
                // is left behind.
                return InspectedFile(kind: .jpeg, bytes: output, width: width, height: height)
            case 0xD0...0xD7, 0x01:
                output.append(contentsOf: [0xFF, marker])
                continue
            case 0x00 where sawScan:
                // A stuffed 0xFF at the very start of a scan's data (a progressive JPEG's
                // refinement scan often begins so).
                output.append(contentsOf: [0xFF, 0x00])
                continue
            case 0xD8, 0x00:
                throw damaged("unexpected marker")
            default:
                break
            }
            guard index + 2 <= input.count else { throw damaged("a segment is cut off") }
            let length = Int(input[index]) << 8 | Int(input[index + 1])
            guard length >= 2, index + length <= input.count else { throw damaged("a segment is cut off") }
            let segment = input[index..<(index + length)]
            let payload = input[(index + 2)..<(index + length)]
            index += length
            var keep: Bool
            switch marker {
            case 0xE0:
                keep = payload.starts(with: Array("JFIF\0".utf8))
                if keep, output.count == 2 { orientationInsertAt = 2 + 2 + length }
            case 0xE1:
                if payload.starts(with: Array("Exif\0\0".utf8)) {
                    orientation = orientation ?? exifOrientation(Array(payload.dropFirst(6)))
                }
                keep = false
            case 0xE2:
                keep = payload.starts(with: Array("ICC_PROFILE\0".utf8))
            case 0xEE:
                keep = payload.starts(with: Array("Adobe".utf8))
            case 0xE3...0xED, 0xEF, 0xFE:
                keep = false
            case 0xC0...0xCF where marker != 0xC4 && marker != 0xC8 && marker != 0xCC:
                guard payload.count >= 5 else { throw damaged("a frame header is cut off") }
                let p = payload.startIndex
                height = Int(payload[p + 1]) << 8 | Int(payload[p + 2])
                width = Int(payload[p + 3]) << 8 | Int(payload[p + 4])
                guard width != 0, height != 0 else { throw damaged("the image has no size") }
                keep = true
            case 0xDA:
                guard width != nil else { throw damaged("image data before the frame header") }
                sawScan = true
                keep = true
            default:
                // Tables (DQT, DHT, DRI, DAC), DNL, EXP, and the rest of what decoding needs.
                keep = true
            }
            if keep {
                output.append(contentsOf: [0xFF, marker])
                output.append(contentsOf: segment)
            }
        }
    }

    /// The orientation tag (0x0112) of IFD0 in an EXIF block's TIFF structure, if any.
    static func exifOrientation(_ tiff: [UInt8]) -> UInt16? {
        guard tiff.count >= 8 else { return nil }
        let little: Bool
        switch (tiff[0], tiff[1]) {
        case (0x49, 0x49): little = true
        case (0x4D, 0x4D): little = false
        default: return nil
        }
        func u16(_ at: Int) -> UInt16? {
            guard at >= 0, at + 2 <= tiff.count else { return nil }
            return little ? UInt16(tiff[at]) | UInt16(tiff[at + 1]) << 8 : UInt16(tiff[at]) << 8 | UInt16(tiff[at + 1])
        }
        func u32(_ at: Int) -> UInt32? {
            guard let a = u16(at), let b = u16(at + 2) else { return nil }
            return little ? UInt32(a) | UInt32(b) << 16 : UInt32(a) << 16 | UInt32(b)
        }
        guard let ifd = u32(4).map(Int.init), let count = u16(ifd) else { return nil }
        for entry in 0..<Int(min(count, 512)) {
            let at = ifd + 2 + entry * 12
            guard let tag = u16(at) else { return nil }
            if tag == 0x0112, u16(at + 2) == 3, let value = u16(at + 8), (1...8).contains(value) { return value }
        }
        return nil
    }

    /// An APP1 EXIF segment holding the orientation and nothing else.
    static func exifOrientationSegment(_ orientation: UInt16) -> [UInt8] {
        let tiff: [UInt8] = [
            0x4D, 0x4D, 0x00, 0x2A, 0x00, 0x00, 0x00, 0x08, // big-endian TIFF, IFD0 at 8
            0x00, 0x01, // one entry
            0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, UInt8(orientation >> 8), UInt8(orientation & 0xFF), 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, // no next IFD
        ]
        let payload = Array("Exif\0\0".utf8) + tiff
        let length = payload.count + 2
        return [0xFF, 0xE1, UInt8(length >> 8), UInt8(length & 0xFF)] + payload
    }
}

// MARK: - PNG

enum PNGCleaner {
    /// Chunks that drawing the image needs or that say how its colours are meant; everything
    /// else (tEXt, zTXt, iTXt, eXIf, tIME, private chunks) is dropped.
    static let kept: Set<String> = [
        "IHDR", "PLTE", "IDAT", "IEND", "tRNS", "cHRM", "gAMA", "iCCP", "sBIT", "sRGB", "cICP", "mDCV", "cLLI", "bKGD", "pHYs",
        "acTL", "fcTL", "fdAT",
    ]

    static func clean(_ input: [UInt8]) throws(FileRefusal) -> InspectedFile {
        func damaged(_ why: String) -> FileRefusal { .damaged(.png, why) }
        var output = Array(input[0..<8])
        output.reserveCapacity(input.count)
        var index = 8
        var width: Int?
        var height: Int?
        var sawData = false
        while true {
            guard index + 12 <= input.count else { throw damaged("the image ends before its end chunk") }
            let length = Int(input[index]) << 24 | Int(input[index + 1]) << 16 | Int(input[index + 2]) << 8 | Int(input[index + 3])
            let type = String(decoding: input[(index + 4)..<(index + 8)], as: UTF8.self)
            guard length <= input.count, index + 12 + length <= input.count else { throw damaged("a chunk is cut off") }
            let chunkEnd = index + 12 + length
            if index == 8 {
                guard type == "IHDR", length == 13 else { throw damaged("no header chunk") }
                let d = index + 8
                width = Int(input[d]) << 24 | Int(input[d + 1]) << 16 | Int(input[d + 2]) << 8 | Int(input[d + 3])
                height = Int(input[d + 4]) << 24 | Int(input[d + 5]) << 16 | Int(input[d + 6]) << 8 | Int(input[d + 7])
                guard let width, let height, width > 0, height > 0 else { throw damaged("the image has no size") }
            }
            if type == "IDAT" { sawData = true }
            if kept.contains(type) {
                output.append(contentsOf: input[index..<chunkEnd])
            } else if let first = type.utf8.first, first & 0x20 == 0 {
                // An unknown critical chunk: a decoder must refuse the image, so do we.
                throw damaged("unknown critical chunk \(type)")
            }
            index = chunkEnd
            if type == "IEND" {
                guard sawData, let width, let height else { throw damaged("no image data") }
                return InspectedFile(kind: .png, bytes: output, width: width, height: height)
            }
        }
    }
}

// MARK: - WebP

enum WebPCleaner {
    static func clean(_ input: [UInt8]) throws(FileRefusal) -> InspectedFile {
        func damaged(_ why: String) -> FileRefusal { .damaged(.webp, why) }
        func u32le(_ at: Int) -> Int { Int(input[at]) | Int(input[at + 1]) << 8 | Int(input[at + 2]) << 16 | Int(input[at + 3]) << 24 }
        func u24le(_ at: Int) -> Int { Int(input[at]) | Int(input[at + 1]) << 8 | Int(input[at + 2]) << 16 }
        let riffSize = u32le(4)
        guard riffSize >= 4, 8 + riffSize <= input.count else { throw damaged("the file is cut off") }
        let end = 8 + riffSize
        var chunks: [[UInt8]] = []
        var width: Int?
        var height: Int?
        var sawImage = false
        var index = 12
        while index < end {
            guard index + 8 <= end else { throw damaged("a chunk is cut off") }
            let fourCC = String(decoding: input[index..<(index + 4)], as: UTF8.self)
            let size = u32le(index + 4)
            let padded = size + (size & 1)
            guard size <= end, index + 8 + size <= end else { throw damaged("a chunk is cut off") }
            let data = index + 8
            var chunk = Array(input[index..<min(index + 8 + padded, end)])
            if chunk.count < 8 + padded { chunk.append(0) }
            switch fourCC {
            case "VP8X":
                guard size >= 10 else { throw damaged("extended header cut off") }
                width = u24le(data + 4) + 1
                height = u24le(data + 7) + 1
                // No EXIF (0x08) or XMP (0x04) any more.
                chunk[8] &= ~UInt8(0x0C)
                chunks.append(chunk)
            case "VP8 ":
                guard size >= 10, input[data + 3] == 0x9D, input[data + 4] == 0x01, input[data + 5] == 0x2A else { throw damaged("lossy frame header") }
                if width == nil {
                    width = (Int(input[data + 6]) | Int(input[data + 7]) << 8) & 0x3FFF
                    height = (Int(input[data + 8]) | Int(input[data + 9]) << 8) & 0x3FFF
                }
                sawImage = true
                chunks.append(chunk)
            case "VP8L":
                guard size >= 5, input[data] == 0x2F else { throw damaged("lossless frame header") }
                if width == nil {
                    let bits = u32le(data + 1)
                    width = (bits & 0x3FFF) + 1
                    height = ((bits >> 14) & 0x3FFF) + 1
                }
                sawImage = true
                chunks.append(chunk)
            case "ANMF":
                sawImage = true
                chunks.append(chunk)
            case "ALPH", "ICCP", "ANIM":
                chunks.append(chunk)
            default:
                // EXIF, "XMP " and anything unknown.
                break
            }
            index += 8 + padded
        }
        guard sawImage, let width, let height, width > 0, height > 0 else { throw damaged("no image data") }
        let body = chunks.joined()
        let size = 4 + body.count
        var output: [UInt8] = Array("RIFF".utf8) + [UInt8(size & 0xFF), UInt8(size >> 8 & 0xFF), UInt8(size >> 16 & 0xFF), UInt8(size >> 24 & 0xFF)]
        output += Array("WEBP".utf8)
        output += body
        return InspectedFile(kind: .webp, bytes: output, width: width, height: height)
    }
}
