//! Avatars and clips built in memory, the way upstream's test harness builds
//! them (a meshless rig, one clip turning the head and both arms).

use serde_json::{json, Value};

use super::*;

const RIG: [(&str, [f32; 3], &[&str]); 17] = [
    (
        "hips",
        [0.0, 0.9, 0.0],
        &["spine", "leftUpperLeg", "rightUpperLeg"],
    ),
    ("spine", [0.0, 0.1, 0.0], &["chest"]),
    (
        "chest",
        [0.0, 0.15, 0.0],
        &["neck", "leftUpperArm", "rightUpperArm"],
    ),
    ("neck", [0.0, 0.15, 0.0], &["head"]),
    ("head", [0.0, 0.1, 0.0], &[]),
    ("leftUpperArm", [0.1, 0.1, 0.0], &["leftLowerArm"]),
    ("leftLowerArm", [0.25, 0.0, 0.0], &["leftHand"]),
    ("leftHand", [0.22, 0.0, 0.0], &[]),
    ("rightUpperArm", [-0.1, 0.1, 0.0], &["rightLowerArm"]),
    ("rightLowerArm", [-0.25, 0.0, 0.0], &["rightHand"]),
    ("rightHand", [-0.22, 0.0, 0.0], &[]),
    ("leftUpperLeg", [0.08, -0.05, 0.0], &["leftLowerLeg"]),
    ("leftLowerLeg", [0.0, -0.4, 0.0], &["leftFoot"]),
    ("leftFoot", [0.0, -0.4, 0.0], &[]),
    ("rightUpperLeg", [-0.08, -0.05, 0.0], &["rightLowerLeg"]),
    ("rightLowerLeg", [0.0, -0.4, 0.0], &["rightFoot"]),
    ("rightFoot", [0.0, -0.4, 0.0], &[]),
];

fn index(bone: &str) -> usize {
    RIG.iter().position(|(b, _, _)| *b == bone).unwrap()
}

fn nodes() -> Value {
    Value::Array(
        RIG.iter()
            .map(|(bone, t, children)| {
                let mut n = json!({"name": bone, "translation": t});
                if !children.is_empty() {
                    n["children"] = json!(children.iter().map(|c| index(c)).collect::<Vec<_>>());
                }
                n
            })
            .collect(),
    )
}

fn glb(document: &Value, binary: &[u8]) -> Vec<u8> {
    let mut text = document.to_string().into_bytes();
    while !text.len().is_multiple_of(4) {
        text.push(b' ');
    }
    let mut binary = binary.to_vec();
    while !binary.len().is_multiple_of(4) {
        binary.push(0);
    }
    let total = 12 + 8 + text.len() + 8 + binary.len();
    let mut out = Vec::new();
    for v in [GLB_MAGIC, 2, total as u32, text.len() as u32, JSON_CHUNK] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&text);
    out.extend_from_slice(&(binary.len() as u32).to_le_bytes());
    out.extend_from_slice(&BINARY_CHUNK.to_le_bytes());
    out.extend_from_slice(&binary);
    out
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    b.extend_from_slice(&width.to_be_bytes());
    b.extend_from_slice(&height.to_be_bytes());
    b.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
    b
}

struct Avatar {
    skip: Option<&'static str>,
    texture: Option<(Vec<u8>, &'static str)>,
    buffer_uri: Option<&'static str>,
    version: u8,
}

impl Default for Avatar {
    fn default() -> Self {
        Avatar {
            skip: None,
            texture: None,
            buffer_uri: None,
            version: 1,
        }
    }
}

fn avatar(a: Avatar) -> Vec<u8> {
    let bones: Vec<&str> = RIG
        .iter()
        .map(|(b, _, _)| *b)
        .filter(|b| Some(*b) != a.skip)
        .collect();
    let mut binary = vec![0u8; 4];
    let mut doc = json!({
        "asset": {"version": "2.0"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": nodes(),
    });
    if let Some((texture, mime)) = &a.texture {
        binary = texture.clone();
        doc["bufferViews"] = json!([{"buffer": 0, "byteOffset": 0, "byteLength": texture.len()}]);
        doc["images"] = json!([{"bufferView": 0, "mimeType": mime}]);
    }
    let padded = binary.len().div_ceil(4) * 4;
    let mut buffer = json!({"byteLength": padded});
    if let Some(uri) = a.buffer_uri {
        buffer["uri"] = json!(uri);
    }
    doc["buffers"] = json!([buffer]);
    if a.version == 1 {
        let human: serde_json::Map<String, Value> = bones
            .iter()
            .map(|b| (b.to_string(), json!({"node": index(b)})))
            .collect();
        doc["extensions"] =
            json!({"VRMC_vrm": {"specVersion": "1.0", "humanoid": {"humanBones": human}}});
    } else {
        let human: Vec<Value> = bones
            .iter()
            .map(|b| json!({"bone": b, "node": index(b)}))
            .collect();
        doc["extensions"] = json!({"VRM": {"humanoid": {"humanBones": human}}});
    }
    glb(&doc, &binary)
}

fn animation(seconds: f32) -> Vec<u8> {
    let times = [0.0f32, seconds / 2.0, seconds];
    let mut binary: Vec<u8> = times.iter().flat_map(|t| t.to_le_bytes()).collect();
    let mut accessors =
        vec![json!({"bufferView": 0, "componentType": FLOAT, "count": 3, "type": "SCALAR"})];
    let mut views = vec![json!({"buffer": 0, "byteOffset": 0, "byteLength": binary.len()})];
    let (mut channels, mut samplers) = (vec![], vec![]);
    for bone in ["head", "leftUpperArm", "rightUpperArm"] {
        let values: Vec<u8> = (0..3)
            .flat_map(|_| [0.0f32, 0.0, 0.0, 1.0])
            .flat_map(|v| v.to_le_bytes())
            .collect();
        views.push(json!({"buffer": 0, "byteOffset": binary.len(), "byteLength": values.len()}));
        binary.extend_from_slice(&values);
        accessors.push(json!({"bufferView": views.len() - 1, "componentType": FLOAT, "count": 3, "type": "VEC4"}));
        samplers
            .push(json!({"input": 0, "output": accessors.len() - 1, "interpolation": "LINEAR"}));
        channels.push(json!({"sampler": samplers.len() - 1, "target": {"node": index(bone), "path": "rotation"}}));
    }
    let human: serde_json::Map<String, Value> = RIG
        .iter()
        .map(|(b, _, _)| (b.to_string(), json!({"node": index(b)})))
        .collect();
    let doc = json!({
        "asset": {"version": "2.0"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": nodes(),
        "buffers": [{"byteLength": binary.len()}],
        "bufferViews": views,
        "accessors": accessors,
        "animations": [{"channels": channels, "samplers": samplers}],
        "extensionsUsed": ["VRMC_vrm_animation"],
        "extensions": {"VRMC_vrm_animation": {"specVersion": "1.0", "humanoid": {"humanBones": human}}},
    });
    glb(&doc, &binary)
}

/// `content` with its binary chunk grown to `size` bytes in all.
fn grown_to(content: &[u8], size: usize) -> Vec<u8> {
    let extra = size - content.len();
    let mut g = content.to_vec();
    g.resize(size, 0);
    g[8..12].copy_from_slice(&(size as u32).to_le_bytes());
    let json_size = u32::from_le_bytes(g[12..16].try_into().unwrap()) as usize;
    let at = 20 + json_size;
    let binary = u32::from_le_bytes(g[at..at + 4].try_into().unwrap()) as usize;
    g[at..at + 4].copy_from_slice(&((binary + extra) as u32).to_le_bytes());
    g
}

#[test]
fn rigged_avatars_of_both_versions_pass() {
    validate_avatar(&avatar(Avatar::default())).unwrap();
    validate_avatar(&avatar(Avatar {
        version: 0,
        ..Avatar::default()
    }))
    .unwrap();
    validate_avatar(&avatar(Avatar {
        texture: Some((png(8, 8), "image/png")),
        ..Avatar::default()
    }))
    .unwrap();
}

#[test]
fn unusable_avatars_are_refused_with_the_reason() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (png(8, 8), "Upload a binary VRM file."),
        (b"short".to_vec(), "Invalid VRM file."),
        (
            avatar(Avatar {
                skip: Some("hips"),
                ..Avatar::default()
            }),
            "Avatar is missing its hips bone. Upload a rigged VRM file.",
        ),
        (
            avatar(Avatar {
                buffer_uri: Some("https://cdn.example/pilot.bin"),
                ..Avatar::default()
            }),
            "Embed all buffers in the VRM file.",
        ),
        (
            avatar(Avatar {
                texture: Some((png(4097, 1), "image/png")),
                ..Avatar::default()
            }),
            "Avatar textures are too large. Export at 2048px or below.",
        ),
        (
            avatar(Avatar {
                texture: Some((png(8, 8), "image/gif")),
                ..Avatar::default()
            }),
            "Embed PNG, JPEG or WebP textures in the VRM file.",
        ),
        (
            grown_to(&avatar(Avatar::default()), AVATAR_MAX_BYTES + 4),
            "Avatar must be at most 25 MiB.",
        ),
        (
            animation(1.0),
            "Avatar is missing its hips bone. Upload a rigged VRM file.",
        ),
    ];
    for (data, reason) in cases {
        assert_eq!(validate_avatar(&data).unwrap_err(), reason);
    }
}

#[test]
fn clips_must_be_short_body_animations() {
    validate_animation(&animation(1.0)).unwrap();
    validate_animation(&animation(60.0)).unwrap();
    for (data, reason) in [
        (
            avatar(Avatar::default()),
            "Use a VRMA 1.0 humanoid animation.",
        ),
        (
            animation(61.0),
            "Use a body animation between 0 and 60 seconds.",
        ),
        (
            grown_to(&animation(1.0), ANIMATION_MAX_BYTES + 4),
            "Animation must be at most 10 MiB.",
        ),
        (png(8, 8), "Upload a binary VRMA file."),
    ] {
        assert_eq!(validate_animation(&data).unwrap_err(), reason);
    }
}

#[test]
fn image_sizes_come_from_their_headers() {
    assert_eq!(image_size(&png(4097, 3)), Some((4097, 3)));
    let mut jpeg = vec![0xff, 0xd8, 0xff, 0xe0, 0, 4, 0, 0];
    jpeg.extend_from_slice(&[0xff, 0xc0, 0, 11, 8, 0, 20, 0, 30, 3]);
    assert_eq!(image_size(&jpeg), Some((30, 20)));
    let mut webp = b"RIFF\0\0\0\0WEBPVP8X".to_vec();
    webp.extend_from_slice(&[0; 8]);
    webp.extend_from_slice(&[99, 0, 0, 49, 0, 0]);
    assert_eq!(image_size(&webp), Some((100, 50)));
    assert_eq!(image_size(b"GIF89a"), None);
}
