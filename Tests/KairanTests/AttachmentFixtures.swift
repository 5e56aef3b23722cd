import Foundation

/// Files for the attachment tests, made with Pillow and piexif (Python) for this suite and
/// kept as base64: each carries the metadata a phone writes (EXIF GPS, camera serial, the
/// owner's name, XMP, comments, a trailer after the image's end) that must not survive.
enum AttachmentFixtures {
    /// 16×8 JPEG, orientation 6 (rotated), EXIF GPS 35°41'22"N 139°41'30"E, Make, Model, Artist, body serial SN-0042-SECRET, an XMP block naming a city, a comment, and 26 bytes after its end marker.
    static let jpegWithGPS: [UInt8] = decode("""
        /9j/4QBlaHR0cDovL25zLmFkb2JlLmNvbS94YXAvMS4wLwA8eDp4bXBtZXRhPjxyZGY6RGVzY3JpcHRpb24gcGhvdG9zaG9wOkNp
        dHk9Ik1pbmFtaWNoaXRhIi8+PC94OnhtcG1ldGE+/+AAEEpGSUYAAQEAAAEAAQAA/+EA/UV4aWYAAE1NACoAAAAIAAYBDwACAAAA
        CgAAAFYBEAACAAAACAAAAGABEgADAAAAAQAGAAABOwACAAAADgAAAGiHaQAEAAAAAQAAAHaIJQAEAAAAAQAAAJMAAAAAS2FpcmFu
        Q2FtAE1vZGVsLVoAWWFtYWRhIEhhbmFrbwAAAaQxAAIAAAAPAAAAhFNOLTAwNDItU0VDUkVUAAAEAAEAAgAAAAJOAAAAAAIABQAA
        AAMAAADFAAMAAgAAAAJFAAAAAAQABQAAAAMAAADdAAAAIwAAAAEAAAApAAAAAQAACJgAAABkAAAAiwAAAAEAAAApAAAAAQAAC7gA
        AABk//4AGXRha2VuIGF0IFNha3VyYSBudXJzZXJ5/9sAQwADAgIDAgIDAwMDBAMDBAUIBQUEBAUKBwcGCAwKDAwLCgsLDQ4SEA0O
        EQ4LCxAWEBETFBUVFQwPFxgWFBgSFBUU/9sAQwEDBAQFBAUJBQUJFA0LDRQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQU
        FBQUFBQUFBQUFBQUFBQUFBQU/8AAEQgACAAQAwEiAAIRAQMRAf/EAB8AAAEFAQEBAQEBAAAAAAAAAAABAgMEBQYHCAkKC//EALUQ
        AAIBAwMCBAMFBQQEAAABfQECAwAEEQUSITFBBhNRYQcicRQygZGhCCNCscEVUtHwJDNicoIJChYXGBkaJSYnKCkqNDU2Nzg5OkNE
        RUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6g4SFhoeIiYqSk5SVlpeYmZqio6Slpqeoqaqys7S1tre4ubrCw8TFxsfIycrS
        09TV1tfY2drh4uPk5ebn6Onq8fLz9PX29/j5+v/EAB8BAAMBAQEBAQEBAQEAAAAAAAABAgMEBQYHCAkKC//EALURAAIBAgQEAwQH
        BQQEAAECdwABAgMRBAUhMQYSQVEHYXETIjKBCBRCkaGxwQkjM1LwFWJy0QoWJDThJfEXGBkaJicoKSo1Njc4OTpDREVGR0hJSlNU
        VVZXWFlaY2RlZmdoaWpzdHV2d3h5eoKDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ
        2uLj5OXm5+jp6vLz9PX29/j5+v/aAAwDAQACEQMRAD8A8Crymiiv0vwY/wCZh/3C/wDch+v+LX/MD/3E/wDcZ//ZTU9USU9OVklE
        RU8tVFJBSUxFUi1TRUNSRVQ=
        """)

    /// 8×4 PNG with tEXt (Author), iTXt (a Japanese comment) and an eXIf chunk.
    static let pngWithText: [UInt8] = decode("""
        iVBORw0KGgoAAAANSUhEUgAAAAgAAAAECAYAAACzzX7wAAAAFHRFWHRBdXRob3IAWWFtYWRhIEhhbmFrb49d+GAAAAApaVRYdENv
        bW1lbnQAAABqYQAA44GV44GP44KJ5L+d6IKy5ZyS44Gn5pKu5b2xCFc2hQAAAChlWElmTU0AKgAAAAgAAYglAAQAAAABAAAAGgAA
        AAAAAQABAAIAAAACTgAAAPzVOCIAAAAVSURBVHicY+Q6wfWfAQ9gwidJHQUA8cwB43akftUAAAAASUVORK5CYII=
        """)

    /// 10×6 lossy WebP (VP8X) with EXIF (as the JPEG's) and XMP chunks.
    static let webpWithEXIF: [UInt8] = decode("""
        UklGRm4BAABXRUJQVlA4WAoAAAAMAAAACQAABQAAVlA4ICgAAABwAQCdASoKAAYAAUAmJaACdAF1AAD+6tR//PzP/4H/90+DJV6v
        Q0AARVhJRvUAAABNTQAqAAAACAAGAQ8AAgAAAAoAAABWARAAAgAAAAgAAABgARIAAwAAAAEABgAAATsAAgAAAA4AAABoh2kABAAA
        AAEAAAB2iCUABAAAAAEAAACTAAAAAEthaXJhbkNhbQBNb2RlbC1aAFlhbWFkYSBIYW5ha28AAAGkMQACAAAADwAAAIRTTi0wMDQy
        LVNFQ1JFVAAABAABAAIAAAACTgAAAAACAAUAAAADAAAAxQADAAIAAAACRQAAAAAEAAUAAAADAAAA3QAAACMAAAABAAAAKQAAAAEA
        AAiYAAAAZAAAAIsAAAABAAAAKQAAAAEAAAu4AAAAZABYTVAgIgAAADx4OnhtcG1ldGE+TWluYW1pY2hpdGE8L3g6eG1wbWV0YT4=
        """)

    /// A one-page PDF.
    static let pdf: [UInt8] = decode("""
        JVBERi0xLjQKMSAwIG9iaiA8PC9UeXBlIC9DYXRhbG9nIC9QYWdlcyAyIDAgUj4+IGVuZG9iagoyIDAgb2JqIDw8L1R5cGUgL1Bh
        Z2VzIC9LaWRzIFszIDAgUl0gL0NvdW50IDE+PiBlbmRvYmoKMyAwIG9iaiA8PC9UeXBlIC9QYWdlIC9QYXJlbnQgMiAwIFIgL01l
        ZGlhQm94IFswIDAgMjAwIDIwMF0+PiBlbmRvYmoKdHJhaWxlciA8PC9Sb290IDEgMCBSPj4KJSVFT0YK
        """)

    /// A portrait photo as an iPhone saves it in HEIC: the 16×8 pixels of `jpegWithGPS` coded
    /// with HEVC (libheif's heif-enc, which carried its EXIF — GPS, serial, owner — and XMP
    /// over), and an `irot` property (270°, a phone held upright) on the primary image, added
    /// to the boxes by hand: libheif decodes it as 8×16.
    static let heicPortrait: [UInt8] = decode("""
        AAAAHGZ0eXBoZWljAAAAAG1pZjFoZWljbWlhZgAAAjdtZXRhAAAAAAAAACFoZGxyAAAAAAAAAABwaWN0AAAAAAAAAAAAAAAAAAAA
        AA5waXRtAAAAAAACAAAAEGlkYXQAAAAAABAACAAAAGBpbG9jAQAAAERAAAQAAQAAAAAAAAJbAAEAAAAAAAAARgACAAEAAAAAAAAA
        AQAAAAAAAAAIAAMAAAAAAAACoQABAAAAAAAAAPkABAAAAAAAAAOaAAEAAAAAAAAARgAAAHdpaW5mAAAAAAAEAAAAFWluZmUCAAAB
        AAEAAGh2YzEAAAAAFWluZmUCAAAAAAIAAGdyaWQAAAAAFWluZmUCAAABAAMAAEV4aWYAAAAAKmluZmUCAAABAAQAAG1pbWUAYXBw
        bGljYXRpb24vcmRmK3htbAAAAAAA32lwcnAAAAC8aXBjbwAAAHNodmNDAQNwAAAAAAAAAAAAHvAA/P34+AAADwMgAAEAGEABDAH/
        /wNwAAADAJAAAAMAAAMAHroCQCEAAQAnQgEBA3AAAAMAkAAAAwAAAwAeoCCBBZbqrprmwIAAAAMAgAAAAwCEIgABAAZEAcFzwYkA
        AAAUaXNwZQAAAAAAAABAAAAAQAAAABRpc3BlAAAAAAAAABAAAAAIAAAAEHBpeGkAAAAAAwgICAAAAAlpcm90AwAAABtpcG1hAAAA
        AAAAAAIAAQKBAgACAwOEhQAAADZpcmVmAAAAAAAAAA5kaW1nAAIAAQABAAAADmNkc2MAAwABAAIAAAAOY2RzYwAEAAEAAgAAAY1t
        ZGF0AAAAQigBrxMhohxo5TVT/ZOXggBbEJL8e/3CgEiCcxmCS5aXMWlDma75u921HoDx65wtl2zjaOLgzOY5HJECWewkynk7rAAA
        AABNTQAqAAAACAAGAQ8AAgAAAAoAAABWARAAAgAAAAgAAABgARIAAwAAAAEABgAAATsAAgAAAA4AAABoh2kABAAAAAEAAAB2iCUA
        BAAAAAEAAACTAAAAAEthaXJhbkNhbQBNb2RlbC1aAFlhbWFkYSBIYW5ha28AAAGkMQACAAAADwAAAIRTTi0wMDQyLVNFQ1JFVAAA
        BAABAAIAAAACTgAAAAACAAUAAAADAAAAxQADAAIAAAACRQAAAAAEAAUAAAADAAAA3QAAACMAAAABAAAAKQAAAAEAAAiYAAAAZAAA
        AIsAAAABAAAAKQAAAAEAAAu4AAAAZDx4OnhtcG1ldGE+PHJkZjpEZXNjcmlwdGlvbiBwaG90b3Nob3A6Q2l0eT0iTWluYW1pY2hp
        dGEiLz48L3g6eG1wbWV0YT4=
        """)

    /// `heicPortrait` with every `ispe` (image size) property claiming width×height.
    static func heicClaiming(width: UInt32, height: UInt32) -> [UInt8] {
        var bytes = heicPortrait
        let tag = Array("ispe".utf8)
        for index in 0..<(bytes.count - 16) where Array(bytes[index..<(index + 4)]) == tag {
            // Type, then version and flags (4 bytes), then width and height.
            for (offset, value) in [(8, width), (12, height)] {
                for byte in 0..<4 { bytes[index + offset + byte] = UInt8(truncatingIfNeeded: value >> (24 - 8 * UInt32(byte))) }
            }
        }
        return bytes
    }

    /// The first bytes of an iPhone photo in HEIC (an ISO BMFF `ftyp` box with brand heic).
    static let heicHeader: [UInt8] = [0, 0, 0, 0x18] + Array("ftypheic".utf8) + [0, 0, 0, 0] + Array("mif1heic".utf8) + [UInt8](repeating: 0, count: 64)

    /// A PNG of a few bytes whose header claims 40000×40000 pixels.
    static let hugePNG: [UInt8] = {
        func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
            let length = UInt32(data.count)
            return [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)] + Array(type.utf8) + data + [0, 0, 0, 0]
        }
        let side: [UInt8] = [0x00, 0x00, 0x9C, 0x40]  // 40000
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", side + side + [8, 2, 0, 0, 0]) + chunk("IDAT", [0x78, 0x9C])
            + chunk("IEND", [])
    }()

    static func decode(_ text: String) -> [UInt8] {
        Array(Data(base64Encoded: text.replacingOccurrences(of: "\n", with: ""))!)
    }
}
