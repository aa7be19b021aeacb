//! Whether a file is a usable call avatar (a self-contained, rigged VRM) or
//! a usable clip (a VRMA body animation), checked before any browser loader
//! sees it, as upstream's `utils/voice_avatar.py` does: both are binary glTF
//! (GLB: a 12-byte header, a JSON chunk, a binary chunk) with their data
//! embedded and their sizes bounded. The errors are the sentences the model
//! editor shows.

use crate::json::truthy;
use std::collections::HashSet;

use serde_json::{Map, Value};

pub const AVATAR_MAX_BYTES: usize = 25 * 1024 * 1024;
pub const ANIMATION_MAX_BYTES: usize = 10 * 1024 * 1024;
const MAX_JSON_BYTES: u32 = 2 * 1024 * 1024;
const GLB_MAGIC: u32 = 0x4654_6C67;
const JSON_CHUNK: u32 = 0x4E4F_534A;
const BINARY_CHUNK: u32 = 0x004E_4942;
const FLOAT: i64 = 5126;

type Checked<T> = Result<T, String>;

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    let b = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn f32_at(data: &[u8], at: usize) -> Option<f32> {
    u32_at(data, at).map(f32::from_bits)
}

/// A file's JSON document, where its binary chunk starts, and how long it is.
struct Glb {
    doc: Map<String, Value>,
    start: usize,
    binary_size: usize,
}

/// The texts of one kind of file's container errors.
struct Texts {
    generic: &'static str,
    not_binary: &'static str,
    container: &'static str,
    binary: &'static str,
}

fn read_glb(data: &[u8], t: &Texts) -> Checked<Glb> {
    let bad = || t.generic.to_string();
    let header: Vec<u32> = (0..5)
        .map(|i| u32_at(data, i * 4))
        .collect::<Option<_>>()
        .ok_or_else(bad)?;
    let (magic, version, size, json_size, chunk) =
        (header[0], header[1], header[2], header[3], header[4]);
    if magic != GLB_MAGIC || version != 2 || size as usize != data.len() || chunk != JSON_CHUNK {
        return Err(t.not_binary.into());
    }
    let json_size = json_size as usize;
    if json_size > MAX_JSON_BYTES as usize || 28 + json_size > data.len() {
        return Err(t.container.into());
    }
    let doc = match serde_json::from_slice::<Value>(&data[20..20 + json_size]) {
        Ok(Value::Object(doc)) => doc,
        _ => return Err(bad()),
    };
    let binary_size = u32_at(data, 20 + json_size).ok_or_else(bad)? as usize;
    let binary_type = u32_at(data, 24 + json_size).ok_or_else(bad)?;
    let start = 28 + json_size;
    if binary_type != BINARY_CHUNK || start + binary_size != data.len() {
        return Err(t.binary.into());
    }
    Ok(Glb {
        doc,
        start,
        binary_size,
    })
}

/// Python's `d.get(key, default)` on something that must be a dict.
fn get<'a>(v: &'a Value, key: &str, generic: &str) -> Checked<Option<&'a Value>> {
    match v {
        Value::Object(o) => Ok(o.get(key)),
        _ => Err(generic.into()),
    }
}

/// A list the document holds under `key` (missing: empty).
fn list<'a>(doc: &'a Map<String, Value>, key: &str, generic: &str) -> Checked<&'a [Value]> {
    match doc.get(key) {
        None => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(generic.into()),
    }
}

/// A number to compare with (an int or a float; anything else is a type error).
fn number(v: Option<&Value>, generic: &str) -> Checked<f64> {
    v.and_then(Value::as_f64).ok_or_else(|| generic.to_string())
}

/// An integer in the strict sense (`type(x) is int`).
fn int(v: Option<&Value>) -> Option<i64> {
    v.filter(|v| v.is_i64() || v.is_u64())
        .and_then(Value::as_i64)
}

fn index_in(v: Option<&Value>, len: usize) -> Option<usize> {
    int(v)
        .filter(|i| *i >= 0 && (*i as usize) < len)
        .map(|i| i as usize)
}

const AVATAR_TEXTS: Texts = Texts {
    generic: "Invalid VRM file.",
    not_binary: "Upload a binary VRM file.",
    container: "Invalid avatar container.",
    binary: "Invalid avatar binary data.",
};

const REQUIRED_BONES: [&str; 7] = [
    "hips",
    "spine",
    "head",
    "leftUpperArm",
    "rightUpperArm",
    "leftLowerArm",
    "rightLowerArm",
];

/// A VRM avatar (0.x or 1.0): at most 25 MiB, a humanoid rig, everything
/// embedded, bounded complexity, PNG/JPEG/WebP textures of at most 4096 px.
pub fn validate_avatar(data: &[u8]) -> Checked<()> {
    let generic = AVATAR_TEXTS.generic;
    if data.len() > AVATAR_MAX_BYTES {
        return Err("Avatar must be at most 25 MiB.".into());
    }
    let glb = read_glb(data, &AVATAR_TEXTS)?;
    let model = Value::Object(glb.doc);
    let empty = Value::Object(Map::new());
    let extensions = get(&model, "extensions", generic)?.unwrap_or(&empty);
    let vrm = [
        get(extensions, "VRMC_vrm", generic)?,
        get(extensions, "VRM", generic)?,
    ]
    .into_iter()
    .flatten()
    .find(|v| truthy(v))
    .unwrap_or(&empty);
    let humanoid = get(vrm, "humanoid", generic)?.unwrap_or(&empty);
    let bones: Map<String, Value> = match get(humanoid, "humanBones", generic)? {
        None => Map::new(),
        Some(Value::Object(o)) => o.clone(),
        Some(Value::Array(items)) => {
            let mut named = Map::new();
            for bone in items {
                let name = get(bone, "bone", generic)?.ok_or_else(|| generic.to_string())?;
                let name = match name {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                named.insert(name, bone.clone());
            }
            named
        }
        Some(_) => return Err(generic.into()),
    };
    let Value::Object(doc) = &model else {
        return Err(generic.into());
    };
    let nodes = list(doc, "nodes", generic)?;
    for name in REQUIRED_BONES {
        let bone = bones.get(name).unwrap_or(&empty);
        let node = get(bone, "node", generic)?;
        if index_in(node, nodes.len()).is_none() {
            return Err(format!(
                "Avatar is missing its {name} bone. Upload a rigged VRM file."
            ));
        }
    }
    let buffers = list(doc, "buffers", generic)?;
    let images = list(doc, "images", generic)?;
    let embedded = buffers.len() == 1 && {
        let buffer = &buffers[0];
        if get(buffer, "uri", generic)?.is_some_and(truthy) {
            false
        } else {
            let length = number(get(buffer, "byteLength", generic)?, generic)?;
            (0.0..=glb.binary_size as f64).contains(&length)
        }
    };
    if !embedded {
        return Err("Embed all buffers in the VRM file.".into());
    }
    let mut keyframes = 0.0;
    for accessor in list(doc, "accessors", generic)? {
        keyframes += match get(accessor, "count", generic)? {
            None => 0.0,
            v => number(v, generic)?,
        };
    }
    if nodes.len() > 512 || images.len() > 32 || keyframes > 5_000_000.0 {
        return Err("This avatar is too complex for a voice call. Use a lighter export.".into());
    }
    check_textures(doc, images, data, glb.start, glb.binary_size)
}

fn check_textures(
    doc: &Map<String, Value>,
    images: &[Value],
    data: &[u8],
    start: usize,
    binary_size: usize,
) -> Checked<()> {
    let generic = AVATAR_TEXTS.generic;
    let mut pixels: u64 = 0;
    for image in images {
        let linked = get(image, "uri", generic)?.is_some_and(truthy);
        let mime = get(image, "mimeType", generic)?.and_then(Value::as_str);
        if linked || !matches!(mime, Some("image/png" | "image/jpeg" | "image/webp")) {
            return Err("Embed PNG, JPEG or WebP textures in the VRM file.".into());
        }
        let views = list(doc, "bufferViews", generic)?;
        let view_index = get(image, "bufferView", generic)?;
        let view = index_in(view_index, views.len())
            .map(|i| &views[i])
            .ok_or_else(|| generic.to_string())?;
        let offset = match get(view, "byteOffset", generic)? {
            None => 0.0,
            v => number(v, generic)?,
        };
        let length = number(get(view, "byteLength", generic)?, generic)?;
        let buffer = match get(view, "buffer", generic)? {
            None => 0.0,
            v => number(v, generic)?,
        };
        if buffer != 0.0 || offset < 0.0 || length <= 0.0 || offset + length > binary_size as f64 {
            return Err("Invalid embedded avatar texture.".into());
        }
        let (offset, length) = (offset as usize, length as usize);
        let bytes = &data[start + offset..start + offset + length];
        let (width, height) =
            image_size(bytes).ok_or_else(|| "Invalid embedded avatar texture.".to_string())?;
        pixels += u64::from(width) * u64::from(height);
        if width.max(height) > 4096 || pixels > 32 * 1024 * 1024 {
            return Err("Avatar textures are too large. Export at 2048px or below.".into());
        }
    }
    Ok(())
}

/// The width and height of a PNG, JPEG or WebP image, read from its header.
pub fn image_size(b: &[u8]) -> Option<(u32, u32)> {
    let be32 = |at: usize| -> Option<u32> {
        let s = b.get(at..at + 4)?;
        Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    };
    let le16 = |at: usize| -> Option<u32> {
        let s = b.get(at..at + 2)?;
        Some(u32::from(u16::from_le_bytes([s[0], s[1]])))
    };
    let le24 = |at: usize| -> Option<u32> {
        let s = b.get(at..at + 3)?;
        Some(u32::from(s[0]) | u32::from(s[1]) << 8 | u32::from(s[2]) << 16)
    };
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        if b.get(12..16)? != b"IHDR" {
            return None;
        }
        return Some((be32(16)?, be32(20)?)).filter(|(w, h)| *w > 0 && *h > 0);
    }
    if b.starts_with(b"RIFF") && b.get(8..12)? == b"WEBP" {
        return match b.get(12..16)? {
            b"VP8 " => Some((le16(26)? & 0x3fff, le16(28)? & 0x3fff)),
            b"VP8L" => {
                let bits = u32::from_le_bytes(b.get(21..25)?.try_into().ok()?);
                Some(((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1))
            }
            b"VP8X" => Some((le24(24)? + 1, le24(27)? + 1)),
            _ => None,
        };
    }
    if b.starts_with(&[0xff, 0xd8]) {
        let mut at = 2;
        while at + 4 <= b.len() {
            if b[at] != 0xff {
                return None;
            }
            let marker = b[at + 1];
            if marker == 0xff {
                at += 1;
                continue;
            }
            if (0xd0..=0xd9).contains(&marker) || marker == 0x01 {
                at += 2;
                continue;
            }
            let length = usize::from(u16::from_be_bytes([*b.get(at + 2)?, *b.get(at + 3)?]));
            let frame = matches!(marker, 0xc0..=0xcf) && !matches!(marker, 0xc4 | 0xc8 | 0xcc);
            if frame {
                let h = u16::from_be_bytes([*b.get(at + 5)?, *b.get(at + 6)?]);
                let w = u16::from_be_bytes([*b.get(at + 7)?, *b.get(at + 8)?]);
                return Some((u32::from(w), u32::from(h))).filter(|(w, h)| *w > 0 && *h > 0);
            }
            at += 2 + length;
        }
    }
    None
}

const ANIMATION_TEXTS: Texts = Texts {
    generic: "Invalid VRMA file.",
    not_binary: "Upload a binary VRMA file.",
    container: "Invalid animation container.",
    binary: "Invalid animation binary data.",
};

/// A VRMA clip: at most 10 MiB, one baked body animation of at most 60
/// seconds over a sound node tree, float keyframes, everything embedded.
pub fn validate_animation(data: &[u8]) -> Checked<()> {
    if data.len() > ANIMATION_MAX_BYTES {
        return Err("Animation must be at most 10 MiB.".into());
    }
    let glb = read_glb(data, &ANIMATION_TEXTS)?;
    Animation {
        doc: &glb.doc,
        data,
        start: glb.start,
        binary_size: glb.binary_size,
    }
    .check()
}

struct Animation<'a> {
    doc: &'a Map<String, Value>,
    data: &'a [u8],
    start: usize,
    binary_size: usize,
}

const G: &str = ANIMATION_TEXTS.generic;

fn fail<T>(message: &str) -> Checked<T> {
    Err(message.to_string())
}

fn required<'a>(v: &'a Value, key: &str) -> Checked<&'a Value> {
    get(v, key, G)?.ok_or_else(|| G.to_string())
}

/// `items[index]` for an index the file gives.
fn at<'a, T>(items: &'a [T], index: Option<&Value>) -> Checked<&'a T> {
    match index_in(index, items.len()) {
        Some(i) => Ok(&items[i]),
        None => fail("Invalid animation reference."),
    }
}

/// One accessor's rows of floats.
struct Rows {
    components: usize,
    values: Vec<f32>,
}

impl Rows {
    fn len(&self) -> usize {
        self.values.len() / self.components.max(1)
    }
    fn first(&self, row: usize) -> f32 {
        self.values[row * self.components]
    }
}

impl Animation<'_> {
    fn check(&self) -> Checked<()> {
        let doc = Value::Object(self.doc.clone());
        let empty = Value::Object(Map::new());
        let extensions = get(&doc, "extensions", G)?.unwrap_or(&empty);
        let ext = get(extensions, "VRMC_vrm_animation", G)?.unwrap_or(&empty);
        let humanoid = get(ext, "humanoid", G)?.unwrap_or(&empty);
        let bones = get(humanoid, "humanBones", G)?.unwrap_or(&empty);
        let nodes = list(self.doc, "nodes", G)?;
        let version_ok = matches!(get(ext, "specVersion", G)?, None | Some(Value::Null))
            || get(ext, "specVersion", G)?.and_then(Value::as_str) == Some("1.0");
        if !version_ok || !truthy(bones) || nodes.is_empty() || nodes.len() > 512 {
            return fail("Use a VRMA 1.0 humanoid animation.");
        }
        let Value::Object(bones) = bones else {
            return fail(G);
        };
        let mut body_nodes = HashSet::new();
        for bone in bones.values() {
            let node = get(bone, "node", G)?;
            let Some(node) = index_in(node, nodes.len()) else {
                return fail("Invalid animation bone.");
            };
            body_nodes.insert(node);
        }
        self.check_tree(nodes)?;
        for scene in list(self.doc, "scenes", G)? {
            let listed = match get(scene, "nodes", G)? {
                None => &[][..],
                Some(Value::Array(a)) => a,
                Some(_) => return fail(G),
            };
            if listed
                .iter()
                .any(|n| index_in(Some(n), nodes.len()).is_none())
            {
                return fail("Invalid animation scene.");
            }
        }
        let buffers = list(self.doc, "buffers", G)?;
        let embedded = buffers.len() == 1 && get(&buffers[0], "uri", G)?.is_none() && {
            let length = number(Some(required(&buffers[0], "byteLength")?), G)?;
            (self.binary_size as f64 - 3.0) <= length && length <= self.binary_size as f64
        };
        if !embedded {
            return fail("Embed all animation data in the VRMA file.");
        }
        if ["images", "textures", "meshes", "skins"]
            .iter()
            .any(|k| self.doc.get(*k).is_some_and(truthy))
        {
            return fail("Export animation only, without meshes or textures.");
        }
        let required_ext = list(self.doc, "extensionsRequired", G)?;
        if required_ext
            .iter()
            .any(|e| e.as_str() != Some("VRMC_vrm_animation"))
        {
            return fail("Unsupported animation extension.");
        }
        let views = list(self.doc, "bufferViews", G)?;
        for view in views {
            let offset = match get(view, "byteOffset", G)? {
                None => 0.0,
                v => number(v, G)?,
            };
            let length = number(Some(required(view, "byteLength")?), G)?;
            let buffer = match get(view, "buffer", G)? {
                None => 0.0,
                v => number(v, G)?,
            };
            if buffer != 0.0
                || offset < 0.0
                || length <= 0.0
                || offset + length > self.binary_size as f64
            {
                return fail("Invalid animation buffer.");
            }
        }
        let accessors = list(self.doc, "accessors", G)?;
        let mut total = 0.0;
        for accessor in accessors {
            total += match get(accessor, "count", G)? {
                None => 0.0,
                v => number(v, G)?,
            };
        }
        if total > 500_000.0 {
            return fail("Animation has too many keyframes.");
        }
        let rows = accessors
            .iter()
            .map(|a| self.rows(a, views))
            .collect::<Checked<Vec<Rows>>>()?;
        self.check_clip(nodes, &body_nodes, accessors, &rows)
    }

    /// Every node has at most one parent, no cycles, finite transforms.
    fn check_tree(&self, nodes: &[Value]) -> Checked<()> {
        let mut parents = HashSet::new();
        let mut visiting = HashSet::new();
        let mut visited = HashSet::new();
        for index in 0..nodes.len() {
            self.visit(
                nodes,
                &Value::from(index),
                &mut parents,
                &mut visiting,
                &mut visited,
                0,
            )?;
        }
        Ok(())
    }

    fn visit(
        &self,
        nodes: &[Value],
        index: &Value,
        parents: &mut HashSet<usize>,
        visiting: &mut HashSet<usize>,
        visited: &mut HashSet<usize>,
        depth: usize,
    ) -> Checked<()> {
        let Some(i) = index_in(Some(index), nodes.len()).filter(|i| !visiting.contains(i)) else {
            return fail("Invalid animation node hierarchy.");
        };
        if visited.contains(&i) {
            return Ok(());
        }
        if depth > nodes.len() {
            return fail(G);
        }
        visiting.insert(i);
        let node = &nodes[i];
        for (key, length) in [
            ("translation", 3),
            ("rotation", 4),
            ("scale", 3),
            ("matrix", 16),
        ] {
            match get(node, key, G)? {
                None => {}
                Some(Value::Array(values)) => {
                    let finite = values
                        .iter()
                        .all(|v| v.as_f64().is_some_and(f64::is_finite));
                    if values.len() != length || !finite {
                        return fail("Invalid animation transform.");
                    }
                }
                Some(_) => return fail(G),
            }
        }
        let children = match get(node, "children", G)? {
            None => &[][..],
            Some(Value::Array(a)) => a,
            Some(_) => return fail(G),
        };
        for child in children {
            match index_in(Some(child), nodes.len()) {
                Some(c) if parents.contains(&c) => {
                    return fail("Animation nodes must have a single parent.")
                }
                Some(c) => {
                    parents.insert(c);
                }
                None => return fail("Invalid animation node hierarchy."),
            }
            self.visit(nodes, child, parents, visiting, visited, depth + 1)?;
        }
        visiting.remove(&i);
        visited.insert(i);
        Ok(())
    }

    /// An accessor's float rows, read from the binary chunk.
    fn rows(&self, accessor: &Value, views: &[Value]) -> Checked<Rows> {
        let count = int(Some(required(accessor, "count")?));
        let components = match required(accessor, "type")?.as_str() {
            Some("SCALAR") => 1,
            Some("VEC3") => 3,
            Some("VEC4") => 4,
            _ => 0,
        };
        let sparse = get(accessor, "sparse", G)?.is_some_and(truthy);
        let float = required(accessor, "componentType")?.as_f64() == Some(FLOAT as f64);
        let count = count.filter(|c| (1..=500_000).contains(c));
        let (Some(count), true, false, true) = (count, components > 0, sparse, float) else {
            return fail("Use float animation keyframes without sparse accessors.");
        };
        let count = count as usize;
        let view = at(views, get(accessor, "bufferView", G)?)?;
        let width = components * 4;
        let stride = match get(view, "byteStride", G)? {
            None => width as f64,
            v => number(v, G)?,
        };
        let offset = match get(accessor, "byteOffset", G)? {
            None => 0.0,
            v => number(v, G)?,
        };
        let view_length = number(Some(required(view, "byteLength")?), G)?;
        if stride < width as f64
            || stride % 4.0 != 0.0
            || offset < 0.0
            || offset + (count as f64 - 1.0) * stride + width as f64 > view_length
        {
            return fail("Invalid animation accessor.");
        }
        let view_offset = match get(view, "byteOffset", G)? {
            None => 0.0,
            v => number(v, G)?,
        };
        let base = self.start + view_offset as usize + offset as usize;
        let stride = stride as usize;
        let mut values = Vec::with_capacity(count * components);
        for row in 0..count {
            for c in 0..components {
                let v =
                    f32_at(self.data, base + row * stride + c * 4).ok_or_else(|| G.to_string())?;
                if !v.is_finite() {
                    return fail("Animation keyframes must be finite.");
                }
                values.push(v);
            }
        }
        Ok(Rows { components, values })
    }

    /// One animation over body bones, sound timing, at most 60 seconds.
    fn check_clip(
        &self,
        nodes: &[Value],
        body_nodes: &HashSet<usize>,
        accessors: &[Value],
        rows: &[Rows],
    ) -> Checked<()> {
        let animations = list(self.doc, "animations", G)?;
        let one = "Export exactly one animation per VRMA file.";
        let [animation] = animations else {
            return fail(one);
        };
        let channels = match get(animation, "channels", G)? {
            None => return fail(one),
            Some(c) if !truthy(c) => return fail(one),
            Some(Value::Array(c)) if c.len() > 256 => return fail(one),
            Some(Value::Array(c)) => c,
            Some(_) => return fail(G),
        };
        let samplers = match required(animation, "samplers")? {
            Value::Array(s) => s.as_slice(),
            _ => return fail(G),
        };
        let mut duration: f64 = 0.0;
        let mut body = false;
        for channel in channels {
            let target = required(channel, "target")?;
            let node = number(Some(required(target, "node")?), G)?;
            let path = required(target, "path")?.as_str();
            if node < 0.0
                || node >= nodes.len() as f64
                || !matches!(path, Some("rotation" | "translation"))
            {
                return fail("Unsupported animation channel.");
            }
            if node.fract() == 0.0 && body_nodes.contains(&(node as usize)) {
                body = true;
            }
            let sampler = at(samplers, Some(required(channel, "sampler")?))?;
            let input = required(sampler, "input")?;
            let times = at(rows, Some(input))?;
            let outputs = at(rows, Some(required(sampler, "output")?))?;
            let input_type = at(accessors, Some(input))?
                .get("type")
                .and_then(Value::as_str);
            let ordered = (0..times.len()).all(|i| {
                let t = times.first(i);
                t >= 0.0 && (i == 0 || t > times.first(i - 1))
            });
            if input_type != Some("SCALAR") || !ordered {
                return fail("Invalid animation timing.");
            }
            let interpolation = match get(sampler, "interpolation", G)? {
                None => Some("LINEAR"),
                Some(v) => v.as_str(),
            };
            if !matches!(interpolation, Some("LINEAR" | "STEP")) {
                return fail("Export baked animation with linear or stepped keyframes.");
            }
            let width = if path == Some("rotation") { 4 } else { 3 };
            if outputs.len() != times.len() || outputs.components != width {
                return fail("Invalid animation output.");
            }
            duration = duration.max(f64::from(times.first(times.len() - 1)));
        }
        if !(body && duration > 0.0 && duration <= 60.0) {
            return fail("Use a body animation between 0 and 60 seconds.");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
