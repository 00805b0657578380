package dev.skipjack.weights;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32;
import java.util.zip.Deflater;

/**
 * Writes zip archives by hand (stored or deflated entries, optionally with zip64 records even when small), so
 * tests control every field the reader checks.
 */
final class TestZip {
    record Entry(String name, byte[] data, boolean deflate) {
        static Entry stored(String name, byte[] data) {
            return new Entry(name, data, false);
        }
    }

    private TestZip() {}

    static byte[] build(List<Entry> entries, boolean zip64) {
        var out = new Out();
        var central = new Out();
        for (Entry e : entries) {
            byte[] name = e.name().getBytes(StandardCharsets.UTF_8);
            byte[] payload = e.deflate() ? deflate(e.data()) : e.data();
            var crc = new CRC32();
            crc.update(e.data());
            long local = out.size();
            int method = e.deflate() ? 8 : 0;
            // Local header; with zip64 the sizes live in its extra field.
            out.u32(0x04034b50).u16(45).u16(0).u16(method).u16(0).u16(0).u32(crc.getValue());
            out.u32(zip64 ? 0xFFFFFFFFL : payload.length).u32(zip64 ? 0xFFFFFFFFL : e.data().length);
            out.u16(name.length).u16(zip64 ? 20 : 0).bytes(name);
            if (zip64) {
                out.u16(1).u16(16).u64(e.data().length).u64(payload.length);
            }
            out.bytes(payload);

            central.u32(0x02014b50).u16(45).u16(45).u16(0).u16(method).u16(0).u16(0).u32(crc.getValue());
            central.u32(zip64 ? 0xFFFFFFFFL : payload.length).u32(zip64 ? 0xFFFFFFFFL : e.data().length);
            central.u16(name.length).u16(zip64 ? 28 : 0).u16(0).u16(0).u16(0).u32(0);
            central.u32(zip64 ? 0xFFFFFFFFL : local).bytes(name);
            if (zip64) {
                central.u16(1).u16(24).u64(e.data().length).u64(payload.length).u64(local);
            }
        }
        long cdOffset = out.size();
        byte[] cd = central.toByteArray();
        out.bytes(cd);
        if (zip64) {
            long eocd64 = out.size();
            out.u32(0x06064b50).u64(44).u16(45).u16(45).u32(0).u32(0);
            out.u64(entries.size()).u64(entries.size()).u64(cd.length).u64(cdOffset);
            out.u32(0x07064b50).u32(0).u64(eocd64).u32(1);
            out.u32(0x06054b50).u16(0).u16(0).u16(0xFFFF).u16(0xFFFF).u32(0xFFFFFFFFL).u32(0xFFFFFFFFL).u16(0);
        } else {
            out.u32(0x06054b50).u16(0).u16(0).u16(entries.size()).u16(entries.size()).u32(cd.length).u32(cdOffset)
                    .u16(0);
        }
        return out.toByteArray();
    }

    static byte[] deflate(byte[] data) {
        var d = new Deflater(Deflater.BEST_COMPRESSION, true);
        d.setInput(data);
        d.finish();
        var out = new ByteArrayOutputStream();
        byte[] buf = new byte[1 << 16];
        while (!d.finished()) {
            out.write(buf, 0, d.deflate(buf));
        }
        d.end();
        return out.toByteArray();
    }

    /** The layout torch.save writes: prefix/data.pkl, prefix/data/KEY, prefix/version. */
    static List<Entry> torchEntries(String prefix, byte[] pickle, List<byte[]> storages, boolean deflate) {
        var list = new ArrayList<Entry>();
        list.add(new Entry(prefix + "/data.pkl", pickle, deflate));
        for (int i = 0; i < storages.size(); i++) {
            list.add(new Entry(prefix + "/data/" + i, storages.get(i), deflate));
        }
        list.add(Entry.stored(prefix + "/version", "3\n".getBytes(StandardCharsets.US_ASCII)));
        return list;
    }

    private static final class Out extends ByteArrayOutputStream {
        Out u16(int v) {
            write(v & 0xff);
            write((v >> 8) & 0xff);
            return this;
        }

        Out u32(long v) {
            return u16((int) (v & 0xffff)).u16((int) ((v >> 16) & 0xffff));
        }

        Out u64(long v) {
            return u32(v & 0xFFFFFFFFL).u32(v >>> 32);
        }

        Out bytes(byte[] b) {
            writeBytes(b);
            return this;
        }
    }
}
