import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What a feature phone that reads only ISO-2022-JP will show of a text: the text encoded
/// exactly as carrier mail is (with the same substitutions, 髙 → 高, ① → (1)), and read back.
/// Characters JIS X 0208 lacks show as 〓, as on the phone. Town staff see it before sending.
public enum CarrierMailPreview {
    /// Nil when this machine's C library has no ISO-2022-JP converter (mail then goes out
    /// as UTF-8, so there is nothing different to preview).
    public static func render(_ text: String) -> String? {
        guard let encoder = ISO2022JPEncoder() else { return nil }
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).map { line -> String in
            decode(ISO2022JPEncoder.bytes(encoder.units(String(line)))) ?? ""
        }
        return lines.joined(separator: "\n")
    }

    private static func decode(_ bytes: [UInt8]) -> String? {
        guard let descriptor = iconv_open("UTF-8", "ISO-2022-JP"), Int(bitPattern: descriptor) != -1 else { return nil }
        defer { iconv_close(descriptor) }
        var input = bytes.map { CChar(bitPattern: $0) }
        var output = [CChar](repeating: 0, count: bytes.count * 4 + 16)
        let produced: Int? = input.withUnsafeMutableBufferPointer { inBuffer -> Int? in
            output.withUnsafeMutableBufferPointer { outBuffer -> Int? in
                var inPointer: UnsafeMutablePointer<CChar>? = inBuffer.baseAddress
                var outPointer: UnsafeMutablePointer<CChar>? = outBuffer.baseAddress
                var inLeft = inBuffer.count
                var outLeft = outBuffer.count
                guard iconv(descriptor, &inPointer, &inLeft, &outPointer, &outLeft) != -1 else { return nil }
                return outBuffer.count - outLeft
            }
        }
        guard let produced else { return nil }
        return String(decoding: output[0..<produced].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
