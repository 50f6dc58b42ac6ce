/**
 * Source-address spreading for big fleets on one machine. Every TCP connection from one source
 * address to one broker address:port needs its own ephemeral port, and Linux hands out ~28k of them
 * (`net.ipv4.ip_local_port_range` 32768-60999). Beyond that, bind each agent's MQTT connection to
 * another loopback address: all of 127.0.0.0/8 is local on Linux, so 127.0.0.2, 127.0.0.3, ... work
 * without configuration, each with its own ~28k ports (the broker must listen on an address they
 * can reach: 127.0.0.1 or 0.0.0.0). MQTT.js passes `localAddress` through to `net.connect`.
 */
import { defaultMqttConnect, type MqttConnect } from '@edgefleet/agent';
import type { DevicePlan } from '../fleet.js';

/** Device i connects from 127.0.0.(1 + i mod k). */
export function spreadSourceAddresses(k: number): (device: DevicePlan) => MqttConnect {
  return function connectorFor(device) {
    const localAddress = `127.0.0.${1 + (device.index % k)}`;
    return (url, options) =>
      defaultMqttConnect(url, { ...options, localAddress } as typeof options);
  };
}
