//! Generates the Rust types of CRIU's RPC messages (src/criu/rpc.proto) with protobuf-codegen's
//! pure-Rust parser, so no protoc is needed.

fn main() {
    protobuf_codegen::Codegen::new()
        .pure()
        .include("src/criu")
        .input("src/criu/rpc.proto")
        .cargo_out_dir("criu_rpc")
        .run_from_script();
}
