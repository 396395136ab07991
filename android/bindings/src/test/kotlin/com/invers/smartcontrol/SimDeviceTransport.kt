// SimDeviceTransport.kt: the BleTransport foreign trait implemented in Kotlin over sim-device's TCP framing (as an app would over BluetoothGatt).
package com.invers.smartcontrol

import com.invers.smartcontrol.ffi.BleAdvertisement
import com.invers.smartcontrol.ffi.BleLink
import com.invers.smartcontrol.ffi.BleLinkEvents
import com.invers.smartcontrol.ffi.BleTransport
import com.invers.smartcontrol.ffi.BleTransportException
import java.io.DataInputStream
import java.io.EOFException
import java.io.IOException
import java.io.OutputStream
import java.net.Socket
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.util.concurrent.atomic.AtomicInteger

/**
 * sim-device's socket protocol (sim-device/src/socket.rs): every message is
 * `len: u32 LE | type: u8 | body`; SCAN 0x01, CONNECT 0x02 (`mtu: u16`,
 * serial), WRITE 0x03, DISCONNECT 0x04; SCAN_RESULT 0x81, CONNECTED 0x82,
 * NOTIFY 0x83, DISCONNECTED 0x84, ERROR 0x8F (`code: u8`, text).
 */
class SimDeviceTransport(private val host: String, private val port: Int) : BleTransport {
    /** Frames written by the core through this transport (proves the hook carried the workflow). */
    val framesWritten = AtomicInteger()
    val notificationsDelivered = AtomicInteger()

    private fun send(out: OutputStream, type: Int, body: ByteArray) {
        val buf = ByteBuffer.allocate(5 + body.size).order(ByteOrder.LITTLE_ENDIAN)
        buf.putInt(body.size + 1).put(type.toByte()).put(body)
        out.write(buf.array())
        out.flush()
    }

    private fun receive(input: DataInputStream): Pair<Int, ByteArray> {
        val header = ByteArray(4)
        input.readFully(header)
        val len = ByteBuffer.wrap(header).order(ByteOrder.LITTLE_ENDIAN).int
        val body = ByteArray(len)
        input.readFully(body)
        return (body[0].toInt() and 0xff) to body.copyOfRange(1, body.size)
    }

    override fun scan(timeoutMs: UInt): List<BleAdvertisement> = try {
        Socket(host, port).use { s ->
            send(s.getOutputStream(), 0x01, ByteArray(0))
            val (type, body) = receive(DataInputStream(s.getInputStream()))
            if (type != 0x81) throw BleTransportException.Io("scan answered 0x%02x".format(type))
            val b = ByteBuffer.wrap(body).order(ByteOrder.LITTLE_ENDIAN)
            List(b.short.toInt() and 0xffff) {
                val rssi = b.short
                val data = ByteArray(b.get().toInt() and 0xff).also { b.get(it) }
                BleAdvertisement(data, rssi)
            }
        }
    } catch (e: IOException) {
        throw BleTransportException.Io("scan: ${e.message}")
    }

    override fun connect(serial: String, events: BleLinkEvents): BleLink {
        val socket = try {
            Socket(host, port).apply { tcpNoDelay = true }
        } catch (e: IOException) {
            throw BleTransportException.Io("cannot reach sim-device: ${e.message}")
        }
        try {
            val out = socket.getOutputStream()
            val input = DataInputStream(socket.getInputStream().buffered())
            val serialBytes = serial.toByteArray()
            send(out, 0x02, ByteBuffer.allocate(2 + serialBytes.size).order(ByteOrder.LITTLE_ENDIAN)
                .putShort(0).put(serialBytes).array())
            val (type, body) = receive(input)
            when (type) {
                0x82 -> {}
                0x8F -> throw if (body.isNotEmpty() && body[0].toInt() == 1) {
                    BleTransportException.NotFound(serial)
                } else {
                    BleTransportException.Io(String(body, 1, body.size - 1))
                }
                else -> throw BleTransportException.Io("connect answered 0x%02x".format(type))
            }
            val mtu = ByteBuffer.wrap(body).order(ByteOrder.LITTLE_ENDIAN).short.toUShort()
            // The platform's notification callback: here a reader thread.
            Thread({
                try {
                    while (true) {
                        val (t, b) = receive(input)
                        when (t) {
                            0x83 -> {
                                notificationsDelivered.incrementAndGet()
                                events.onNotification(b)
                            }
                            0x84 -> break
                        }
                    }
                } catch (_: EOFException) {
                } catch (_: IOException) {
                } finally {
                    events.onDisconnected()
                    events.close()
                }
            }, "sim-ble-notify-$serial").apply { isDaemon = true }.start()
            return SimLink(socket, out, mtu)
        } catch (e: IOException) {
            socket.close()
            throw BleTransportException.Io("connect: ${e.message}")
        }
    }

    private inner class SimLink(
        private val socket: Socket,
        private val out: OutputStream,
        private val mtu: UShort,
    ) : BleLink {
        override fun mtu(): UShort = mtu

        override fun write(frame: ByteArray) {
            try {
                synchronized(this) { send(out, 0x03, frame) }
                framesWritten.incrementAndGet()
            } catch (e: IOException) {
                throw BleTransportException.Disconnected()
            }
        }

        override fun disconnect() {
            try {
                synchronized(this) { send(out, 0x04, ByteArray(0)) }
            } catch (_: IOException) {
            } finally {
                socket.close()
            }
        }
    }
}
