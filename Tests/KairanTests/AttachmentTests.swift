import Foundation
import Hummingbird
import HummingbirdTesting
import KairanCore
import KairanDelivery
@testable import KairanFiles
import KairanServices
import NIOCore
import PostgresNIO
import Testing

@testable import KairanServer
@testable import KairanStore

/// Photos and PDFs as residents, moderators and schools use them: uploaded, stripped of
/// where they were taken, attached to a post or a notice, and handed only to those who may
/// see what they hang on.
@Suite struct AttachmentTests {
    static func upload(_ client: any TestClientProtocol, _ bytes: [UInt8], name: String, token: String?,
                       sourceLocation: SourceLocation = #_sourceLocation) async throws -> TestResponse {
        var headers: HTTPFields = [.contentType: "application/octet-stream"]
        if let token { headers[.authorization] = "Bearer \(token)" }
        let query = name.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        let uri = "/v1/attachments?filename=\(query)"
        let response = try await client.execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(bytes: bytes))
        SpecConformance.check(.post, uri, response, sourceLocation: sourceLocation)
        return response
    }

    static func uploaded(_ client: any TestClientProtocol, _ bytes: [UInt8], name: String, by who: Resident) async throws -> Int {
        let response = try await upload(client, bytes, name: name, token: who.token)
        try #require(response.status == .created, "upload: \(response.text)")
        return try #require(response.json()["id"] as? Int)
    }

    static func ints(_ sql: PostgresQuery, _ url: DatabaseURL) async throws -> [Int] {
        try await url.withSingleConnection(logger: TestDatabase.logger) { db in
            var values: [Int] = []
            for try await value in try await db.query(sql).decode(Int.self) { values.append(value) }
            return values
        }
    }

    static func download(_ client: any TestClientProtocol, _ id: Int, by who: Resident) async throws -> TestResponse {
        try await client.send(.get, "/v1/attachments/\(id)", token: who.token)
    }

    @Test func aPhotoInAPrivateGroupIsStrippedAndShownOnlyToItsMembers() async throws {
        try await withApp { client, url in
            let owner = try await client.resident("owner@example.jp", name: "世話 役")
            let member = try await client.resident("member@example.jp", name: "山田 花子")
            let stranger = try await client.resident("stranger@example.jp")
            let group = try await client.createGroup(by: owner, name: "ひまわり組の保護者", visibility: "private", joinPolicy: "invite")
            try await client.invite(member, to: group, by: owner)

            // An iPhone photo its browser turned into JPEG keeps its name, with the real extension.
            let uploaded = try await Self.upload(client, AttachmentFixtures.jpegWithGPS, name: "C:\\写真\\IMG_0001.HEIC", token: member.token)
            #expect(uploaded.status == .created, "\(uploaded.text)")
            let file = try uploaded.json()
            let id = try #require(file["id"] as? Int)
            #expect(file["contentType"] as? String == "image/jpeg" && file["filename"] as? String == "IMG_0001.jpg")
            #expect(file["width"] as? Int == 16 && file["height"] as? Int == 8)
            let cleaned = try FileInspector.inspect(AttachmentFixtures.jpegWithGPS).bytes
            #expect(file["byteSize"] as? Int == cleaned.count)
            // Until it is attached, the file is its uploader's alone.
            #expect(try await Self.download(client, id, by: member).status == .ok)
            #expect(try await Self.download(client, id, by: owner).status == .notFound)

            let started = try await client.send(.post, "/v1/groups/\(group)/threads",
                                                json: jsonObject(["title": "運動会の写真", "body": "リレーの様子です", "attachmentIds": [id]]), token: member.token)
            #expect(started.status == .created, "\(started.text)")
            let thread = try #require((started.json()["thread"] as? [String: Any])?["id"] as? Int)
            let shown = try #require(try await client.send(.get, "/v1/threads/\(thread)/posts", token: owner.token).items().first)
            let attachments = try #require(shown["attachments"] as? [[String: Any]])
            #expect(attachments.count == 1 && attachments.first?["id"] as? Int == id && attachments.first?["filename"] as? String == "IMG_0001.jpg")

            let got = try await Self.download(client, id, by: owner)
            #expect(got.status == .ok)
            #expect(got.headers[.contentType] == "image/jpeg")
            #expect(got.headers[.init("X-Content-Type-Options")!] == "nosniff")
            #expect(got.headers[.contentDisposition] == "inline; filename=\"IMG_0001.jpg\"; filename*=UTF-8''IMG_0001.jpg")
            #expect(Array(got.body.readableBytesView) == cleaned, "what is stored is the stripped photo")
            for secret in ["SN-0042", "KairanCam", "Minamichita", "MOTIONVIDEO"] {
                #expect(!AttachmentFileTests.contains(Array(got.body.readableBytesView), secret))
            }
            // A private group's photo does not exist for anyone else.
            let refused = try await Self.download(client, id, by: stranger)
            #expect(try refused.status == .notFound && refused.errorCode() == "not_found")
            #expect(try await client.send(.get, "/v1/attachments/\(id)").status == .unauthorized)

            // An upload goes on one post only, and only its uploader attaches it.
            let again = try await client.send(.post, "/v1/threads/\(thread)/posts", json: jsonObject(["body": "もう一枚", "attachmentIds": [id]]), token: member.token)
            #expect(try again.status == .unprocessableContent && again.errorCode() == "unknown_attachment")
            let ownersUpload = try await Self.uploaded(client, AttachmentFixtures.pngWithText, name: "地図.png", by: owner)
            let taken = try await client.send(.post, "/v1/threads/\(thread)/posts", json: jsonObject(["body": "地図です", "attachmentIds": [ownersUpload]]), token: member.token)
            #expect(try taken.status == .unprocessableContent && taken.errorCode() == "unknown_attachment")
            #expect(try await Self.download(client, ownersUpload, by: owner).status == .ok, "a refused post leaves the upload waiting")

            // Deleting the post takes its photo with it.
            let postID = try #require(shown["id"] as? Int)
            #expect(try await client.send(.delete, "/v1/posts/\(postID)", token: member.token).status == .noContent)
            #expect(try await Self.download(client, id, by: owner).status == .notFound)
            #expect(try await Self.download(client, id, by: member).status == .notFound)
            // The post lets go of the photo: its bytes go with the next collection a day on.
            #expect(try await Self.ints("SELECT count(*)::int FROM attachments WHERE id = \(id)", url) == [0])
        }
    }

    @Test func aPhotoModerationHidesIsGoneForReadersButNotForItsAuthorOrTheModerators() async throws {
        try await withApp { client, _ in
            let owner = try await client.resident("owner@example.jp", name: "世話 役")
            let author = try await client.resident("author@example.jp", name: "投稿 者")
            let reader = try await client.resident("reader@example.jp")
            let group = try await client.createGroup(by: owner)
            for who in [author, reader] {
                #expect(try await client.send(.post, "/v1/groups/\(group)/join", json: "{}", token: who.token).status == .ok)
            }
            let (thread, _) = try await client.createThread(in: group, by: owner)
            let id = try await Self.uploaded(client, AttachmentFixtures.webpWithEXIF, name: "迷子の猫.webp", by: author)
            let posted = try await client.send(.post, "/v1/threads/\(thread)/posts", json: jsonObject(["body": "この猫を探しています", "attachmentIds": [id]]),
                                               token: author.token)
            #expect(posted.status == .created, "\(posted.text)")
            let post = try #require(posted.json()["id"] as? Int)
            #expect(try await Self.download(client, id, by: reader).status == .ok)

            #expect(try await client.send(.post, "/v1/posts/\(post)/flags", json: jsonObject(["reason": "personal_info"]), token: reader.token).status == .created)
            let item = try #require(try await client.send(.get, "/v1/moderation/items", token: owner.token).items().first?["id"] as? Int)
            let hidden = try await client.send(.post, "/v1/moderation/items/\(item)/actions", json: jsonObject(["action": "hide", "reason": "個人情報"]),
                                               token: owner.token)
            #expect(hidden.status == .ok, "\(hidden.text)")

            #expect(try await Self.download(client, id, by: reader).status == .notFound)
            #expect(try await Self.download(client, id, by: author).status == .ok, "its author still sees the hidden post")
            #expect(try await Self.download(client, id, by: owner).status == .ok, "the group's moderators review it")
        }
    }

    @Test func anIPhonePhotoInHEICBecomesAnUprightJPEGWithoutWhereItWasTaken() async throws {
        // scripts/test installs Debian's libheif-examples; a server without it refuses HEIC
        // (the next test).
        try #require(HEICConverter.installed() != nil, "heif-convert is missing: apt install libheif-examples")
        try await withApp { client, _ in
            let resident = try await client.resident("iphone@example.jp")
            let uploaded = try await Self.upload(client, AttachmentFixtures.heicPortrait, name: "IMG_0003.HEIC", token: resident.token)
            #expect(uploaded.status == .created, "\(uploaded.text)")
            let file = try uploaded.json()
            let id = try #require(file["id"] as? Int)
            #expect(file["contentType"] as? String == "image/jpeg" && file["filename"] as? String == "IMG_0003.jpg")
            // Upright as the phone showed it (its irot applied), 8 wide and 16 high.
            #expect(file["width"] as? Int == 8 && file["height"] as? Int == 16, "\(file)")

            let got = try await Self.download(client, id, by: resident)
            let bytes = Array(got.body.readableBytesView)
            #expect(got.status == .ok && got.headers[.contentType] == "image/jpeg")
            let shown = try FileInspector.inspect(bytes)
            #expect(shown.kind == .jpeg && shown.width == 8 && shown.height == 16)
            for secret in AttachmentFileTests.secrets {
                #expect(!AttachmentFileTests.contains(bytes, secret), "\(secret) survived the conversion")
            }
            // No EXIF at all: the converter copies the phone's orientation tag (6) beside
            // pixels it already turned, and a browser would turn the photo a second time.
            #expect(!AttachmentFileTests.contains(bytes, "Exif"))
            #expect(file["byteSize"] as? Int == bytes.count)
            #expect(bytes.count < AttachmentFixtures.heicPortrait.count, "the JPEG is smaller than the HEIC (the allowance test below relies on it)")

            func refusal(_ bytes: [UInt8]) async throws -> (HTTPResponse.Status, String) {
                let response = try await Self.upload(client, bytes, name: "IMG_0004.HEIC", token: resident.token)
                return (response.status, try response.errorCode())
            }
            // Cut off in transfer, no image inside, or claiming 400 million pixels (refused
            // before anything decodes it).
            #expect(try await refusal(Array(AttachmentFixtures.heicPortrait.prefix(700))) == (.unprocessableContent, "damaged_file"))
            #expect(try await refusal(AttachmentFixtures.heicHeader) == (.unprocessableContent, "damaged_file"))
            #expect(try await refusal(AttachmentFixtures.heicClaiming(width: 20_000, height: 20_000)) == (.contentTooLarge, "image_too_large"))
        }
        // One photo of an account's converts at a time: a second one meanwhile is asked to
        // come back shortly.
        let converter = try #require(HEICConverter.installed())
        try await withApp(configure: { $0.heicConverter = converter }) { client, _ in
            let resident = try await client.resident("two-at-once@example.jp")
            #expect(converter.turns.enter(Int64(resident.id)))
            let busy = try await Self.upload(client, AttachmentFixtures.heicPortrait, name: "IMG_0006.HEIC", token: resident.token)
            #expect(try busy.status == .tooManyRequests && busy.errorCode() == "rate_limited", "\(busy.text)")
            #expect(busy.headers[.retryAfter] == "10")
            converter.turns.leave(Int64(resident.id))
            #expect(try await Self.upload(client, AttachmentFixtures.heicPortrait, name: "IMG_0006.HEIC", token: resident.token).status == .created)
        }
        // A conversion that runs past its time is ended and the photo refused, not waited for.
        let folder = FileManager.default.temporaryDirectory.path + "/kairan-slow-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let script = folder + "/slow-convert"
        try "#!/bin/sh\nexec sleep 30\n".write(toFile: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script)
        var slow = try #require(HEICConverter(executable: script))
        slow.timeout = .milliseconds(300)
        try await withApp(configure: { [slow] in $0.heicConverter = slow }) { client, _ in
            let resident = try await client.resident("slow@example.jp")
            let started = ContinuousClock.now
            let response = try await Self.upload(client, AttachmentFixtures.heicPortrait, name: "IMG_0007.HEIC", token: resident.token)
            #expect(try response.status == .unprocessableContent && response.errorCode() == "damaged_file", "\(response.text)")
            #expect(response.text.contains("ファイルが壊れているか"), "in Japanese, as every error: \(response.text)")
            #expect(ContinuousClock.now - started < .seconds(25), "killed at its time, not after the program's 30 s")
        }
        // An account past its day's allowance gets no conversion (30 s of a core each): the
        // HEIC as sent is over it, though the JPEG it would become is not.
        try await withApp(configure: { $0.attachmentLimits.residentBytesPerDay = Int64(AttachmentFixtures.heicPortrait.count - 1) }) { client, _ in
            let resident = try await client.resident("many-photos@example.jp")
            let response = try await Self.upload(client, AttachmentFixtures.heicPortrait, name: "IMG_0005.HEIC", token: resident.token)
            #expect(try response.status == .tooManyRequests && response.errorCode() == "rate_limited", "\(response.text)")
        }
    }

    @Test func filesThatAreNotPhotosOrPDFAreRefusedWithAClearError() async throws {
        // A server without a HEIC converter (Debian's libheif-examples not installed).
        try await withApp(configure: { $0.attachmentLimits.imageBytes = 600; $0.attachmentLimits.perPost = 2; $0.heicConverter = nil }) { client, _ in
            let resident = try await client.resident("resident@example.jp")
            func refusal(_ bytes: [UInt8], _ name: String) async throws -> (HTTPResponse.Status, String) {
                let response = try await Self.upload(client, bytes, name: name, token: resident.token)
                return (response.status, try response.errorCode())
            }
            #expect(try await refusal(AttachmentFixtures.heicHeader, "IMG_0002.HEIC") == (.unsupportedMediaType, "heic_not_supported"))
            #expect(try await refusal(Array("<script>alert(1)</script>".utf8), "photo.jpg") == (.unsupportedMediaType, "unsupported_file_type"))
            #expect(try await refusal(Array(AttachmentFixtures.pdf.dropLast(20)), "学年だより.pdf") == (.unprocessableContent, "damaged_file"))
            #expect(try await refusal([], "empty.png") == (.unprocessableContent, "empty_file"))
            // Larger than a resident may send (600 bytes here): refused before it is read.
            #expect(try await refusal(AttachmentFixtures.jpegWithGPS, "big.jpg") == (.contentTooLarge, "file_too_large"))
            #expect(try await refusal(AttachmentFixtures.hugePNG, "huge.png") == (.contentTooLarge, "image_too_large"))
            #expect(try await Self.upload(client, AttachmentFixtures.pngWithText, name: "ok.png", token: nil).status == .unauthorized)
            // Japanese by default, as every error.
            let heic = try await Self.upload(client, AttachmentFixtures.heicHeader, name: "x.heic", token: resident.token)
            #expect(((try heic.json()["error"] as? [String: Any])?["message"] as? String)?.contains("互換性優先") == true, "\(heic.text)")

            // At most two per post here.
            let group = try await client.createGroup(by: resident)
            let (thread, _) = try await client.createThread(in: group, by: resident)
            var ids: [Int] = []
            for index in 0..<3 { ids.append(try await Self.uploaded(client, AttachmentFixtures.pngWithText, name: "\(index).png", by: resident)) }
            let tooMany = try await client.send(.post, "/v1/threads/\(thread)/posts", json: jsonObject(["body": "写真3枚", "attachmentIds": ids]), token: resident.token)
            #expect(try tooMany.status == .unprocessableContent && tooMany.errorCode() == "too_many_attachments")
            let two = try await client.send(.post, "/v1/threads/\(thread)/posts", json: jsonObject(["body": "写真2枚", "attachmentIds": Array(ids.prefix(2))]),
                                            token: resident.token)
            #expect(try two.status == .created && (two.json()["attachments"] as? [[String: Any]])?.map { $0["filename"] as? String } == ["0.png", "1.png"])
        }
    }

    @Test func aSchoolsPDFReachesGuardiansByTheirMailLinkAndNoOneElse() async throws {
        let server = ScriptedSMTPServer()
        try await server.start()
        try await NoticeTown.with { town in
            let school = try await town.school("北小学校", prefix: "north")
            let other = try await town.school("南小学校", prefix: "south")
            let hanako = try await town.enrol(school, "鈴木 花子", in: "1-1")
            try await town.mailGuardian(school, child: hanako, name: "鈴木 良子", email: "suzuki@ezweb.ne.jp")
            let taro = try await town.enrol(school, "山田 太郎", in: "2-1")
            let father = try await town.client.resident("yamada@example.jp", name: "山田 一郎")
            try await town.link(father, to: taro, at: school)

            let pdf = try await Self.uploaded(town.client, AttachmentFixtures.pdf, name: "学年だより12月号.pdf", by: school.teacher)
            let posted = try await town.post(school, by: school.teacher.token, ["title": "学年だより 12月号", "attachmentIds": [pdf]])
            #expect(posted.status == .created, "\(posted.text)")
            #expect((try posted.json()["attachments"] as? [[String: Any]])?.first?["filename"] as? String == "学年だより12月号.pdf")
            #expect(try await town.deliver(to: server) == 1)
            let link = try #require(server.noticeLink(to: "suzuki@ezweb.ne.jp"))
            // The mail names the file and never carries it.
            let mail = try #require(server.transactions.last?.data)
            #expect(!mail.contains("%PDF") && !mail.lowercased().contains("content-disposition: attachment"))

            let page = try await town.client.send(.get, link)
            #expect(page.text.contains("添付ファイル") && page.text.contains("学年だより12月号.pdf</a>（PDF・1 KB）"), "\(page.text)")
            let file = try await town.client.send(.get, "\(link)/files/\(pdf)")
            #expect(file.status == .ok && file.headers[.contentType] == "application/pdf")
            #expect(Array(file.body.readableBytesView) == AttachmentFixtures.pdf)
            #expect(file.headers[.contentDisposition]?.contains("filename*=UTF-8''%E5%AD%A6%E5%B9%B4") == true)
            #expect(try await town.client.send(.get, "/n/\(String(repeating: "0", count: 64))/files/\(pdf)").status == .notFound)

            // The app guardian and the school's staff download it; another school's staff do not.
            #expect(try await Self.download(town.client, pdf, by: father).status == .ok)
            #expect(try await Self.download(town.client, pdf, by: school.admin).status == .ok)
            #expect(try await Self.download(town.client, pdf, by: other.teacher).status == .notFound)
        }
        await server.stop()
    }

    /// The mail text names what is attached and sends the reader to the page.
    @Test func aNoticeMailNamesItsFiles() {
        let notice = NoticeRecord(id: 1, organizationID: 1, authorID: 1, urgent: false, title: "学年だより", body: "12月号です。", targets: NoticeTargets(all: true, grades: [], classes: [], lists: []),
                                  form: nil, state: .scheduled, sendAt: Date(), releaseAt: Date(), skipReason: nil, messageID: nil, escalateAt: nil,
                                  escalatedAt: nil, createdAt: Date(), sentAt: nil, revision: 0)
        let file = AttachmentRecord(id: 7, contentType: "application/pdf", byteSize: 2048, filename: "学年だより12月号.pdf", width: nil, height: nil)
        let body = NoticeStore.mailBody(notice, organizationName: "北小学校", attachments: [file])
        #expect(body.contains("※ 添付ファイルがあります。下のリンクのページでご覧ください。\n・学年だより12月号.pdf"))
        #expect(!NoticeStore.mailBody(notice, organizationName: "北小学校").contains("添付"))
    }

    /// The wrong photo chosen: taken back, it is gone at once, and no longer counts among the
    /// uploads waiting to be attached. Nobody takes back someone else's upload or a post's file.
    @Test func anUploadNotAttachedYetCanBeTakenBack() async throws {
        try await withApp { client, url in
            let parent = try await client.resident("parent@example.jp")
            let other = try await client.resident("other@example.jp")
            let wrong = try await Self.uploaded(client, AttachmentFixtures.jpegWithGPS, name: "子ども.jpg", by: parent)
            #expect(try await client.send(.delete, "/v1/attachments/\(wrong)", token: other.token).status == .notFound)
            let withdrawn = try await client.send(.delete, "/v1/attachments/\(wrong)", token: parent.token)
            #expect(withdrawn.status == .noContent, "\(withdrawn.text)")
            #expect(try await Self.download(client, wrong, by: parent).status == .notFound)
            #expect(try await Self.ints("SELECT count(*)::int FROM attachments", url) == [0])
            #expect(try await client.send(.delete, "/v1/attachments/\(wrong)", token: parent.token).status == .notFound)

            let kept = try await Self.uploaded(client, AttachmentFixtures.pngWithText, name: "運動会.png", by: parent)
            let group = try await client.createGroup(by: parent)
            let (thread, _) = try await client.createThread(in: group, by: parent)
            #expect(try await client.send(.post, "/v1/threads/\(thread)/posts", json: jsonObject(["body": "運動会", "attachmentIds": [kept]]),
                                          token: parent.token).status == .created)
            let attached = try await client.send(.delete, "/v1/attachments/\(kept)", token: parent.token)
            #expect(try attached.status == .conflict && attached.errorCode() == "attachment_in_use", "\(attached.text)")
            #expect(try await Self.download(client, kept, by: parent).status == .ok)
        }
    }

    @Test func abandonedUploadsAndUnusedFilesAreCollectedAfterADay() async throws {
        let folder = FileManager.default.temporaryDirectory.path + "/kairan-collect-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let clock = TestClock()
        try await withApp(clock: clock, configure: { $0.files = .local(folder) }) { client, url in
            let resident = try await client.resident("resident@example.jp")
            let kept = try await Self.uploaded(client, AttachmentFixtures.pngWithText, name: "kept.png", by: resident)
            _ = try await Self.uploaded(client, AttachmentFixtures.webpWithEXIF, name: "abandoned.webp", by: resident)
            let group = try await client.createGroup(by: resident)
            let (thread, _) = try await client.createThread(in: group, by: resident)
            #expect(try await client.send(.post, "/v1/threads/\(thread)/posts", json: jsonObject(["body": "写真", "attachmentIds": [kept]]), token: resident.token).status == .created)
            func storedFiles() -> Int {
                (FileManager.default.enumerator(atPath: folder)?.allObjects as? [String] ?? []).filter { $0.split(separator: "/").count == 3 }.count
            }
            #expect(storedFiles() == 2)
            // What a crash mid-write left two days ago, and a write on its way now.
            let incoming = folder + "/.incoming"
            for (name, age) in [("crashed.tmp", 2 * 86_400.0), ("writing.tmp", 0)] {
                FileManager.default.createFile(atPath: "\(incoming)/\(name)", contents: Data([1, 2, 3]),
                                               attributes: [.modificationDate: clock.now().addingTimeInterval(-age)])
            }

            let run = { () async throws -> (Int, Int) in
                try await TestDatabase.withClient(url) { database in
                    let services = Services(database: database, clock: clock, passwordHasher: PasswordHasher(testSuiteCost: 4), sessionLifetime: 3600,
                                            files: LocalFileStore(directory: folder))
                    return try await services.attachments.collect(logger: TestDatabase.logger)
                }
            }
            #expect(try await run() == (0, 0), "nothing is a day old")
            #expect(try FileManager.default.contentsOfDirectory(atPath: incoming) == ["writing.tmp"], "the crash's leftover is swept, the write on its way is not")
            clock.advance(by: 25 * 3600)
            #expect(try await run() == (1, 1), "the abandoned upload and its bytes")
            #expect(storedFiles() == 1)
            #expect(try await Self.download(client, kept, by: resident).status == .ok)
        }
    }

    /// Residents send photos and small PDFs; staff (of a school, a nursery or the town) send
    /// larger PDFs. Waiting uploads and a day's bytes are counted per account.
    @Test func limitsDependOnWhoUploadsAndAreCountedPerAccount() async throws {
        let pdf = AttachmentFixtures.pdf.count
        // A day's bytes count what is stored: the photo without its metadata.
        let png = try FileInspector.inspect(AttachmentFixtures.pngWithText).bytes.count
        try await withApp(configure: {
            $0.attachmentLimits.residentPDFBytes = pdf - 1
            $0.attachmentLimits.staffPDFBytes = pdf
            $0.attachmentLimits.waitingPerAccount = 2
            $0.attachmentLimits.residentBytesPerDay = Int64(3 * png)
        }) { client, url in
            let resident = try await client.resident("resident@example.jp")
            let staff = try await client.resident("bousai@town.example.jp", name: "防災 担当")
            try await grantRole("alert_sender", to: "bousai@town.example.jp", in: url)
            let refused = try await Self.upload(client, AttachmentFixtures.pdf, name: "案内.pdf", token: resident.token)
            #expect(try refused.status == .contentTooLarge && refused.errorCode() == "file_too_large")
            #expect(try await Self.upload(client, AttachmentFixtures.pdf, name: "避難所一覧.pdf", token: staff.token).status == .created)

            // Two uploads may wait to be attached; the third waits for one of them.
            for index in 0..<2 { _ = try await Self.uploaded(client, AttachmentFixtures.pngWithText, name: "\(index).png", by: resident) }
            let third = try await Self.upload(client, AttachmentFixtures.pngWithText, name: "2.png", token: resident.token)
            #expect(try third.status == .conflict && third.errorCode() == "too_many_waiting_uploads")
            // Attached, they no longer wait; the day's bytes (three such files here) still count.
            let group = try await client.createGroup(by: resident)
            let (thread, _) = try await client.createThread(in: group, by: resident)
            let waiting = try await Self.ints("SELECT id::int FROM attachments WHERE attached_at IS NULL AND uploader_id = \(resident.id) ORDER BY id", url)
            #expect(try await client.send(.post, "/v1/threads/\(thread)/posts", json: jsonObject(["body": "写真", "attachmentIds": waiting]),
                                          token: resident.token).status == .created)
            _ = try await Self.uploaded(client, AttachmentFixtures.pngWithText, name: "3.png", by: resident)
            let overDay = try await Self.upload(client, AttachmentFixtures.pngWithText, name: "4.png", token: resident.token)
            #expect(try overDay.status == .tooManyRequests && overDay.errorCode() == "rate_limited")
            #expect(overDay.headers[.retryAfter] != nil)
        }
    }

    /// A process reads at most two uploads from one address at once: of three that arrive
    /// together and stall halfway, one is answered 503 with Retry-After before a byte of it
    /// is read; the other two hold their places, which come back when they end.
    @Test func uploadsFromOneAddressAreReadTwoAtATime() async throws {
        try await withLiveApp { client, _ in
            let port = try #require(client.port)
            let resident = try await client.resident("resident@example.jp")
            let file = AttachmentFixtures.pngWithText
            let head = "POST /v1/attachments?filename=slow.png HTTP/1.1\r\nHost: kairan\r\nConnection: close\r\n"
                + "Authorization: Bearer \(resident.token)\r\nContent-Length: \(file.count)\r\n\r\n"
            let stalled = (0..<3).map { _ in
                Task { try await RawHTTPClient.exchange(port: port, [Array(head.utf8) + file.prefix(file.count / 2)], timeout: .seconds(4)) }
            }
            var answers: [RawHTTPClient.Exchange] = []
            for task in stalled { answers.append(try await task.value) }
            let refused = answers.filter { $0.statuses == [503] }
            #expect(refused.count == 1, "one of three is refused: \(answers.map(\.statuses))")
            #expect(refused.first.map { $0.response.contains("Retry-After: 5") && $0.response.contains(#""code":"overloaded""#) } == true)
            #expect(answers.filter { $0.statuses.isEmpty && !$0.closedByServer }.count == 2, "two are read, waiting for the rest of their bytes")
            #expect(try await Self.upload(client, file, name: "later.png", token: resident.token).status == .created, "their places came back")
        }
    }

    /// The same store code against a real S3-compatible server (moto's, started by
    /// scripts/test): bytes go in signed, come back whole, and go away.
    @Test func theS3StoreKeepsFilesInARealObjectStore() async throws {
        let endpoint = try #require(ProcessInfo.processInfo.environment["KAIRAN_TEST_S3"], "scripts/test starts an S3-compatible server")
        let bucket = "kairan-test-\(UUID().uuidString.prefix(8).lowercased())"
        let configuration = S3Configuration(endpoint: endpoint, bucket: bucket, region: "us-east-1", accessKey: "testing", secretKey: "testing")
        try await S3TestBucket.create(configuration)
        let store = S3FileStore(configuration)
        let bytes = try FileInspector.inspect(AttachmentFixtures.jpegWithGPS).bytes
        let key = FileKey(of: bytes)
        #expect(try await store.open(key) == nil)
        try await store.put(key, bytes: ByteBuffer(bytes: bytes), contentType: "image/jpeg")
        try await store.put(key, bytes: ByteBuffer(bytes: bytes), contentType: "image/jpeg")
        let opened = try #require(try await store.open(key))
        #expect(opened.byteCount == bytes.count)
        var read: [UInt8] = []
        for try await chunk in opened.chunks { read += chunk.readableBytesView }
        #expect(read == bytes)
        try await store.delete(key)
        try await store.delete(key)
        #expect(try await store.open(key) == nil)

        // A whole server on the bucket: upload and download go through it.
        try await withApp(configure: { $0.files = .s3(configuration) }) { client, _ in
            let resident = try await client.resident("resident@example.jp")
            let id = try await Self.uploaded(client, AttachmentFixtures.jpegWithGPS, name: "s3.jpg", by: resident)
            let got = try await Self.download(client, id, by: resident)
            #expect(got.status == .ok && Array(got.body.readableBytesView) == bytes)
        }
    }
}
