//! The decoder against arbitrary bytes: it answers a frame or an error,
//! never panics, and what it decodes encodes back to the same bytes.

use berth_proto::{Frame, Header};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        // The relay's header read agrees with the full decode.
        prop_assert_eq!(Header::peek(&bytes).is_ok(), Frame::decode(&bytes).is_ok());
        if let Ok(frame) = Frame::decode(&bytes) {
            // JSON may be re-serialized differently; everything else is exact.
            if !matches!(frame, Frame::Hello(_) | Frame::Welcome(_) | Frame::Open { .. }) {
                prop_assert_eq!(frame.encode(), bytes);
            }
        }
    }

    #[test]
    fn typed_prefixes_never_panic(ty in prop::sample::select(vec![0x01u8, 0x02, 0x03, 0x10, 0x11, 0x12, 0x13, 0x14]),
                                  rest in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut bytes = vec![ty];
        bytes.extend(rest);
        let _ = Frame::decode(&bytes);
    }

    #[test]
    fn data_frames_round_trip(seq: u64, stream in 1u32.., data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let frame = Frame::Data { seq, stream, data };
        prop_assert_eq!(Frame::decode(&frame.encode()), Ok(frame));
    }
}
