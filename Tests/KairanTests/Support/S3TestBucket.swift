import AsyncHTTPClient
import Foundation
import NIOCore

@testable import KairanFiles

/// Makes a bucket on the test suite's S3-compatible server (the store itself never creates
/// buckets: a town's operator does), signed as the store signs its own requests.
enum S3TestBucket {
    static func create(_ configuration: S3Configuration) async throws {
        let store = S3FileStore(configuration)
        let request = store.request(.PUT, path: store.bucketPath, payloadHash: S3Signer.emptyPayloadHash)
        // The test's first request to moto: it loads its S3 backend then, which took more
        // than 10 s once beside the rest of the suite on two cores. The limit only ends a
        // hung run.
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        let body = try await response.body.collect(upTo: 64 * 1024)
        guard response.status == .ok else { throw S3TestError(message: "create bucket: \(response.status) \(String(buffer: body))") }
    }
}

struct S3TestError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
