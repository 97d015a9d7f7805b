// A Matrix user driven from pytest: matrix-js-sdk with its Rust crypto (what Element runs),
// controlled over JSON lines.
//
//   stdin:  {"id": 1, "cmd": "login", "homeserver": "...", "user": "...", "password": "..."}
//   stdout: {"id": 1, "ok": true, "result": {...}}  or  {"id": 1, "ok": false, "error": "..."}
//   stdout: {"event": "sas", ...}   (pushed, not an answer; see EVENTS below)
//
// stdout carries only this protocol. Every console method (the sdk's loglevel logger and the
// Rust crypto's tracing both go through `console`) is redirected to stderr before the sdk is
// loaded. Commands run one after another in arrival order, except the waiting ones
// (`wait_message`, `backup_info` with `wait_for_keys`), which run alongside.
//
// The command list and the pushed events are documented in tests/peers/README.md.

import { Console } from "node:console";

const protocolWrite = process.stdout.write.bind(process.stdout);
{
    const stderrConsole = new Console({ stdout: process.stderr, stderr: process.stderr });
    const stamp = () => new Date().toISOString().slice(11, 23);
    for (const method of ["log", "info", "debug", "warn", "error", "trace"]) {
        const target = stderrConsole[method].bind(stderrConsole);
        console[method] = (...args) => target(stamp(), method.toUpperCase(), ...args);
    }
    console.dir = stderrConsole.dir.bind(stderrConsole);
    console.table = stderrConsole.table.bind(stderrConsole);
    // Anything else writing to stdout would corrupt the protocol: send it to stderr as well.
    process.stdout.write = (chunk, encoding, callback) =>
        process.stderr.write(chunk, encoding, callback);
}

// Loaded only now, so that every logger binds to the redirected console methods.
const sdk = await import("matrix-js-sdk");
const cryptoApi = await import("matrix-js-sdk/lib/crypto-api/index.js");
const attachments = (await import("matrix-encrypt-attachment")).default;
const { createInterface } = await import("node:readline");

const {
    createClient,
    ClientEvent,
    RoomEvent,
    MatrixEventEvent,
    SyncState,
    Preset,
    Visibility,
    MsgType,
} = sdk;
const { logger: sdkLogger } = await import("matrix-js-sdk/lib/logger.js");
const {
    CryptoEvent,
    VerificationPhase,
    VerificationRequestEvent,
    VerifierEvent,
    EventShieldColour,
    EventShieldReason,
    OnlySignedDevicesIsolationMode,
    AllDevicesIsolationMode,
    decodeRecoveryKey,
} = cryptoApi;

sdkLogger.setLevel(process.env.JS_PEER_LOG_LEVEL || "debug");

// -- protocol ----------------------------------------------------------------------------------

function send(message) {
    protocolWrite(JSON.stringify(message) + "\n");
}

function push(event, fields = {}) {
    send({ event, ...fields });
}

function errorText(err) {
    if (err instanceof Error) {
        const data = err.data ? ` ${JSON.stringify(err.data)}` : "";
        return `${err.name}: ${err.message}${data}`;
    }
    return typeof err === "string" ? err : JSON.stringify(err);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what, check, timeoutMs, describe = () => "") {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const value = await check();
        if (value) return value;
        if (Date.now() >= deadline) {
            const seen = await describe();
            throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${seen ? `; ${seen}` : ""}`);
        }
        await sleep(50);
    }
}

function need(args, ...names) {
    for (const name of names) {
        if (args[name] === undefined || args[name] === null) {
            throw new Error(`missing argument "${name}"`);
        }
    }
}

// -- state -------------------------------------------------------------------------------------

let client = null;
let crypto = null;
let password = null;
// Secret storage keys this peer knows: key id -> raw private key.
const secretStorageKeys = new Map();
// Per room: the MatrixEvent objects seen on its live timeline, in arrival order.
const timelines = new Map();
// Verification requests by transaction id, and the order they appeared in.
const verifications = new Map();

function requireClient() {
    if (!client) throw new Error("not logged in: send `login` first");
    return client;
}

// -- events and the timeline -------------------------------------------------------------------

function remember(event, room) {
    const roomId = room?.roomId ?? event.getRoomId();
    if (!roomId) return;
    let list = timelines.get(roomId);
    if (!list) timelines.set(roomId, (list = []));
    if (!list.includes(event)) list.push(event);
}

async function describeEvent(event) {
    const failed = event.isDecryptionFailure();
    const wasEncrypted = event.isEncrypted();
    let shield = null;
    if (wasEncrypted && !failed && crypto) {
        try {
            shield = await crypto.getEncryptionInfoForEvent(event);
        } catch (err) {
            console.warn("getEncryptionInfoForEvent failed", err);
        }
    }
    const description = {
        event_id: event.getId(),
        sender: event.getSender(),
        type: event.getType(),
        content: event.getContent(),
        origin_server_ts: event.getTs(),
        encrypted: wasEncrypted,
        decrypted: wasEncrypted && !failed && event.getType() !== "m.room.encrypted",
        pending_decryption: wasEncrypted && !failed && event.getType() === "m.room.encrypted",
        error: failed ? (event.decryptionFailureReason ?? "UNKNOWN_ERROR") : null,
        shield_colour: shield ? EventShieldColour[shield.shieldColour] : null,
        shield_reason:
            shield && shield.shieldReason !== null && shield.shieldReason !== undefined
                ? EventShieldReason[shield.shieldReason]
                : null,
    };
    if (event.isState()) description.state_key = event.getStateKey();
    return description;
}

async function roomEvents(roomId, sinceTs = 0) {
    const out = [];
    const seen = new Set();
    for (const event of timelines.get(roomId) ?? []) {
        if (event.getTs() < sinceTs) continue;
        const id = event.getId();
        if (seen.has(id)) continue;
        seen.add(id);
        out.push(await describeEvent(event));
    }
    return out;
}

function summarise(events) {
    return events
        .map((e) => {
            let what = JSON.stringify(e.content?.body ?? e.type);
            if (e.error) what = `UTD ${e.error}`;
            else if (e.pending_decryption) what = "still encrypted";
            return `${e.event_id} ${e.type} from ${e.sender}: ${what}`;
        })
        .join(" | ");
}

// A message has arrived from elsewhere (another user or another of our devices) and its
// decryption has settled (decrypted, or failed): push it. A failure that a late key fixes is
// pushed again when the event decrypts.
async function pushMessage(event) {
    // When this peer had the message (wall clock, ms): taken before describing it, which
    // waits on the crypto for the shield. Benchmarks compare it with other readers.
    const receivedTs = Date.now();
    if (!client || event.status !== null) return; // our own local echo
    if (event.getSender() === client.getUserId() && event.getUnsigned().transaction_id) return;
    if (event.isBeingDecrypted() || event.getType() === "m.room.encrypted") return; // not yet
    // (A decryption failure has type m.room.message with msgtype m.bad.encrypted.)
    if (event.getType() !== "m.room.message") return;
    push("message", {
        room_id: event.getRoomId(),
        ...(await describeEvent(event)),
        received_ts: receivedTs,
    });
}

// -- verification ------------------------------------------------------------------------------

function trackVerification(request) {
    const txn = request.transactionId;
    if (verifications.has(txn)) return verifications.get(txn);
    const entry = {
        request,
        sas: null,
        verifier: null,
        startedByMe: false,
        lastPhase: null,
        finished: false,
        order: verifications.size,
    };
    verifications.set(txn, entry);
    const onChange = () => onVerificationChange(entry);
    request.on(VerificationRequestEvent.Change, onChange);
    onChange();
    return entry;
}

// Some getters throw "not implemented" with the Rust crypto (e.g. `methods`): read them safely.
function safely(read) {
    try {
        return read() ?? null;
    } catch {
        return null;
    }
}

function verificationSummary(entry) {
    const r = entry.request;
    return {
        transaction_id: r.transactionId,
        phase: VerificationPhase[r.phase],
        other_user_id: r.otherUserId,
        other_device_id: safely(() => r.otherDeviceId),
        initiated_by_me: r.initiatedByMe,
        is_self_verification: safely(() => r.isSelfVerification),
        chosen_method: safely(() => r.chosenMethod),
        cancellation_code: safely(() => r.cancellationCode),
        cancelling_user_id: safely(() => r.cancellingUserId),
    };
}

function onVerificationChange(entry) {
    const request = entry.request;
    const phase = request.phase;
    if (phase !== entry.lastPhase) {
        entry.lastPhase = phase;
        push("verification_phase", verificationSummary(entry));
    }
    if (request.verifier && request.verifier !== entry.verifier) {
        hookVerifier(entry, request.verifier);
        // Started by the other side: `verify()` accepts their `m.key.verification.start`.
        if (!entry.startedByMe) runVerifier(entry);
    }
    if (phase === VerificationPhase.Done && !entry.finished) {
        entry.finished = true;
        push("verification_done", verificationSummary(entry));
    }
    if (phase === VerificationPhase.Cancelled && !entry.finished) {
        entry.finished = true;
        push("verification_cancelled", {
            ...verificationSummary(entry),
            reason: request.cancellationCode,
        });
    }
}

function hookVerifier(entry, verifier) {
    entry.verifier = verifier;
    verifier.on(VerifierEvent.ShowSas, (callbacks) => {
        entry.sas = callbacks;
        push("sas", {
            transaction_id: entry.request.transactionId,
            emoji: callbacks.sas.emoji ?? null,
            decimal: callbacks.sas.decimal ?? null,
        });
    });
    verifier.on(VerifierEvent.Cancel, (err) => {
        console.warn("verifier cancelled", err);
    });
    // The SAS may already be there (e.g. both sides raced to it).
    const shown = verifier.getShowSasCallbacks();
    if (shown && !entry.sas) verifier.emit(VerifierEvent.ShowSas, shown);
}

function runVerifier(entry) {
    entry.verifier.verify().then(
        () => console.info("verifier finished", entry.request.transactionId),
        (err) => {
            console.warn("verifier failed", err);
            if (!entry.finished) {
                entry.finished = true;
                push("verification_cancelled", {
                    ...verificationSummary(entry),
                    reason: errorText(err),
                });
            }
        },
    );
}

function pickVerification(args) {
    if (args.transaction_id) {
        const entry = verifications.get(args.transaction_id);
        if (!entry) throw new Error(`no verification with transaction id ${args.transaction_id}`);
        return entry;
    }
    const open = [...verifications.values()].filter((e) => !e.finished);
    const pool = open.length ? open : [...verifications.values()];
    if (!pool.length) throw new Error("no verification request seen yet");
    return pool.sort((a, b) => b.order - a.order)[0];
}

// -- login -------------------------------------------------------------------------------------

function attachListeners() {
    client.on(RoomEvent.Timeline, (event, room, toStartOfTimeline, removed, data) => {
        if (toStartOfTimeline || removed) return;
        remember(event, room);
        if (data?.liveEvent !== false) pushMessage(event).catch((e) => console.error(e));
    });
    client.on(MatrixEventEvent.Decrypted, (event) => {
        pushMessage(event).catch((e) => console.error(e));
    });
    client.on(CryptoEvent.VerificationRequestReceived, (request) => {
        const entry = trackVerification(request);
        push("verification_request", verificationSummary(entry));
    });
}

function getSecretStorageKey({ keys }) {
    for (const keyId of Object.keys(keys)) {
        const key = secretStorageKeys.get(keyId);
        if (key) return Promise.resolve([keyId, key]);
    }
    console.warn("no secret storage key known for", Object.keys(keys));
    return Promise.resolve(null);
}

async function waitForSync(timeoutMs) {
    const state = client.getSyncState();
    if (state === SyncState.Prepared || state === SyncState.Syncing) return;
    await new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
            client.off(ClientEvent.Sync, onSync);
            reject(new Error(`first sync did not complete in ${timeoutMs} ms (state ${client.getSyncState()})`));
        }, timeoutMs);
        function onSync(newState, _prev, data) {
            if (newState === SyncState.Prepared || newState === SyncState.Syncing) {
                clearTimeout(timer);
                client.off(ClientEvent.Sync, onSync);
                resolve();
            } else if (newState === SyncState.Error) {
                console.warn("sync error", data?.error);
            }
        }
        client.on(ClientEvent.Sync, onSync);
    });
}

const commands = {
    async login(args) {
        need(args, "homeserver", "user", "password");
        if (client) throw new Error("already logged in");
        const bare = createClient({ baseUrl: args.homeserver });
        const response = await bare.loginRequest({
            type: "m.login.password",
            identifier: { type: "m.id.user", user: args.user },
            password: args.password,
            device_id: args.device_id ?? undefined,
            initial_device_display_name: args.device_name ?? "js peer (matrix-js-sdk 36.2.0)",
        });
        password = args.password;
        client = createClient({
            baseUrl: args.homeserver,
            userId: response.user_id,
            deviceId: response.device_id,
            accessToken: response.access_token,
            verificationMethods: ["m.sas.v1"],
            cryptoCallbacks: {
                getSecretStorageKey,
                cacheSecretStorageKey: (keyId, _info, key) => secretStorageKeys.set(keyId, key),
            },
        });
        await client.initRustCrypto({ useIndexedDB: false });
        crypto = client.getCrypto();
        attachListeners();
        await client.startClient({ initialSyncLimit: 20, lazyLoadMembers: true });
        await waitForSync(args.timeout_ms ?? 30000);
        return {
            user_id: response.user_id,
            device_id: response.device_id,
            access_token: response.access_token,
        };
    },

    async bootstrap(args) {
        requireClient();
        const pw = args.password ?? password;
        const userId = client.getUserId();
        await crypto.bootstrapCrossSigning({
            authUploadDeviceSigningKeys: async (makeRequest) => {
                await makeRequest({
                    type: "m.login.password",
                    identifier: { type: "m.id.user", user: userId },
                    password: pw,
                });
            },
        });
        const recovery = await crypto.createRecoveryKeyFromPassphrase(args.passphrase ?? undefined);
        await crypto.bootstrapSecretStorage({
            createSecretStorageKey: async () => recovery,
            setupNewSecretStorage: true,
            setupNewKeyBackup: true,
        });
        return {
            recovery_key: recovery.encodedPrivateKey,
            backup_version: await crypto.getActiveSessionBackupVersion(),
            cross_signing_ready: await crypto.isCrossSigningReady(),
            secret_storage_ready: await crypto.isSecretStorageReady(),
        };
    },

    // Use existing secret storage from a recovery key, as Element's "verify with recovery key".
    async recover(args) {
        need(args, "recovery_key");
        requireClient();
        const keyId = await client.secretStorage.getDefaultKeyId();
        if (!keyId) throw new Error("the account has no default secret storage key");
        const key = decodeRecoveryKey(args.recovery_key);
        const info = await client.secretStorage.getKey(keyId);
        if (!info || !(await client.secretStorage.checkKey(key, info[1]))) {
            throw new Error(`the recovery key does not match secret storage key ${keyId}`);
        }
        secretStorageKeys.set(keyId, key);
        // The private keys import only once our public cross-signing keys are known (otherwise
        // the import fails): on a device that just logged in, wait for them.
        await until(
            "our public cross-signing keys",
            async () => {
                await crypto.userHasCrossSigningKeys(client.getUserId(), true);
                return (await crypto.getCrossSigningStatus()).publicKeysOnDevice;
            },
            args.timeout_ms ?? 10000,
        );
        // Imports the cross-signing keys from secret storage and signs this device.
        await crypto.bootstrapCrossSigning({});
        let backupVersion = null;
        try {
            await crypto.loadSessionBackupPrivateKeyFromSecretStorage();
            await crypto.checkKeyBackupAndEnable();
            backupVersion = await crypto.getActiveSessionBackupVersion();
        } catch (err) {
            console.warn("no key backup restored", err);
        }
        return {
            cross_signing_ready: await crypto.isCrossSigningReady(),
            backup_version: backupVersion,
        };
    },

    async restore_backup() {
        requireClient();
        const result = await crypto.restoreKeyBackup();
        return { total: result.total, imported: result.imported };
    },

    async only_signed_devices(args) {
        requireClient();
        const on = args.on ?? true;
        crypto.setDeviceIsolationMode(
            on ? new OnlySignedDevicesIsolationMode() : new AllDevicesIsolationMode(false),
        );
        return { on };
    },

    async crypto_status() {
        requireClient();
        const keys = await crypto.getOwnDeviceKeys();
        return {
            user_id: client.getUserId(),
            device_id: client.getDeviceId(),
            ed25519: keys.ed25519,
            curve25519: keys.curve25519,
            cross_signing_ready: await crypto.isCrossSigningReady(),
            secret_storage_ready: await crypto.isSecretStorageReady(),
            master_key: await crypto.getCrossSigningKeyId(),
            backup_version: await crypto.getActiveSessionBackupVersion(),
            cross_signing: await crypto.getCrossSigningStatus(),
            version: crypto.getVersion(),
        };
    },

    async create_room(args) {
        requireClient();
        const initialState = [];
        if (args.encrypted) {
            initialState.push({
                type: "m.room.encryption",
                state_key: "",
                content: { algorithm: "m.megolm.v1.aes-sha2" },
            });
        }
        const options = {
            invite: args.invite ?? [],
            preset: args.preset ?? Preset.PrivateChat,
            visibility: Visibility.Private,
            initial_state: initialState,
        };
        if (args.name) options.name = args.name;
        if (args.is_direct) options.is_direct = true;
        const { room_id: roomId } = await client.createRoom(options);
        await waitForRoom(roomId, !!args.encrypted, args.timeout_ms ?? 15000);
        return { room_id: roomId };
    },

    async join(args) {
        need(args, "room_id");
        requireClient();
        await client.joinRoom(args.room_id);
        await until(
            `membership "join" in ${args.room_id}`,
            () => client.getRoom(args.room_id)?.getMyMembership() === "join",
            args.timeout_ms ?? 15000,
        );
        return { room_id: args.room_id };
    },

    async wait_invite(args) {
        requireClient();
        const room = await until(
            "an invite",
            () =>
                client
                    .getRooms()
                    .find(
                        (r) =>
                            r.getMyMembership() === "invite" &&
                            (!args.room_id || r.roomId === args.room_id),
                    ),
            args.timeout_ms ?? 15000,
        );
        return { room_id: room.roomId };
    },

    async invite(args) {
        need(args, "room_id", "user_id");
        requireClient();
        await client.invite(args.room_id, args.user_id);
        return {};
    },

    async send_text(args) {
        need(args, "room_id", "body");
        await requireRoom(args.room_id);
        const content = { msgtype: args.msgtype ?? MsgType.Text, body: args.body };
        const { event_id: eventId } = await client.sendMessage(args.room_id, content);
        return { event_id: eventId };
    },

    async send_file(args) {
        need(args, "room_id", "name", "data_base64");
        await requireRoom(args.room_id);
        const plain = Buffer.from(args.data_base64, "base64");
        const mimetype = args.mimetype ?? "application/octet-stream";
        const encrypted = await attachments.encryptAttachment(
            plain.buffer.slice(plain.byteOffset, plain.byteOffset + plain.byteLength),
        );
        const upload = await client.uploadContent(Buffer.from(encrypted.data), {
            type: "application/octet-stream",
            includeFilename: false,
        });
        const file = { ...encrypted.info, url: upload.content_uri };
        const msgtype = mimetype.startsWith("image/")
            ? MsgType.Image
            : mimetype.startsWith("video/")
              ? MsgType.Video
              : mimetype.startsWith("audio/")
                ? MsgType.Audio
                : MsgType.File;
        const content = {
            msgtype,
            body: args.name,
            filename: args.name,
            info: { mimetype, size: plain.length },
            file,
        };
        const { event_id: eventId } = await client.sendMessage(args.room_id, content);
        return { event_id: eventId, mxc: upload.content_uri, file };
    },

    async download_decrypted(args) {
        need(args, "file");
        requireClient();
        const mxc = args.mxc ?? args.file.url;
        const url = client.mxcUrlToHttp(mxc, undefined, undefined, undefined, false, true, true);
        if (!url) throw new Error(`not an mxc URI: ${mxc}`);
        const response = await fetch(url, {
            headers: { Authorization: `Bearer ${client.getAccessToken()}` },
        });
        if (!response.ok) {
            throw new Error(`GET ${url} -> HTTP ${response.status}: ${await response.text()}`);
        }
        const cipher = await response.arrayBuffer();
        const plain = await attachments.decryptAttachment(cipher, args.file);
        return { data_base64: Buffer.from(plain).toString("base64") };
    },

    async messages(args) {
        need(args, "room_id");
        requireClient();
        return roomEvents(args.room_id, args.since_ts ?? 0);
    },

    async wait_message(args) {
        need(args, "room_id");
        requireClient();
        const matches = (e) =>
            (args.utd || args.error
                ? e.error !== null
                : e.type === "m.room.message" && e.error === null && !e.pending_decryption) &&
            (args.error === undefined || e.error === args.error) &&
            (args.body === undefined || e.content?.body === args.body) &&
            (args.sender === undefined || e.sender === args.sender) &&
            (args.event_id === undefined || e.event_id === args.event_id) &&
            (args.since_ts === undefined || e.origin_server_ts >= args.since_ts);
        const want = [
            args.utd || args.error ? "an undecryptable event" : "a decrypted message",
            args.error ? `failing with ${args.error}` : "",
            args.body !== undefined ? `body ${JSON.stringify(args.body)}` : "",
            args.sender ? `from ${args.sender}` : "",
            args.event_id ? `id ${args.event_id}` : "",
            `in ${args.room_id}`,
        ]
            .filter(Boolean)
            .join(" ");
        return until(
            want,
            async () => (await roomEvents(args.room_id)).find(matches),
            args.timeout_ms ?? 10000,
            async () => {
                const seen = await roomEvents(args.room_id);
                return `seen ${seen.length} events: ${summarise(seen) || "(none)"}`;
            },
        );
    },

    async device_status(args) {
        need(args, "user_id", "device_id");
        requireClient();
        // A device that just appeared becomes known when the sync's device-list change
        // arrives, and a new signature when the next /keys/query answers: wait up to
        // `timeout_ms` (default 5 s) for the device, and for every field named in `wait_for`
        // (e.g. ["signed_by_owner"]) to be true; then answer with what there is.
        const wanted = [].concat(args.wait_for ?? []);
        const deadline = Date.now() + (args.timeout_ms ?? 5000);
        for (;;) {
            await crypto.getUserDeviceInfo([args.user_id], true);
            const status = await crypto.getDeviceVerificationStatus(args.user_id, args.device_id);
            const answer = status
                ? {
                      known: true,
                      signed_by_owner: status.signedByOwner,
                      cross_signing_verified: status.crossSigningVerified,
                      locally_verified: status.localVerified,
                      verified: status.isVerified(),
                  }
                : {
                      known: false,
                      signed_by_owner: false,
                      cross_signing_verified: false,
                      locally_verified: false,
                      verified: false,
                  };
            if ((answer.known && wanted.every((field) => answer[field])) || Date.now() >= deadline) {
                return answer;
            }
            await sleep(100);
        }
    },

    async user_verified(args) {
        need(args, "user_id");
        requireClient();
        await crypto.getUserDeviceInfo([args.user_id], true);
        const status = await crypto.getUserVerificationStatus(args.user_id);
        return status.isCrossSigningVerified();
    },

    async backup_info(args) {
        requireClient();
        const read = async () => {
            const info = await client.getKeyBackupVersion();
            if (!info) return { version: null, count: 0, active_version: null };
            const keys = await client.http.authedRequest(
                sdk.Method.Get,
                "/room_keys/keys",
                { version: info.version },
                undefined,
                { prefix: sdk.ClientPrefix.V3 },
            );
            let count = 0;
            for (const room of Object.values(keys.rooms ?? {})) {
                count += Object.keys(room.sessions ?? {}).length;
            }
            return {
                version: info.version,
                count,
                active_version: await crypto.getActiveSessionBackupVersion(),
            };
        };
        if (!args.wait_for_keys) return read();
        let last = null;
        return until(
            `${args.wait_for_keys} keys in the backup`,
            async () => {
                last = await read();
                return last.count >= args.wait_for_keys ? last : null;
            },
            args.timeout_ms ?? 20000,
            () => `last seen ${JSON.stringify(last)}`,
        );
    },

    // -- verification --

    async request_verification(args) {
        need(args, "user_id");
        requireClient();
        await crypto.getUserDeviceInfo([args.user_id], true);
        let request;
        if (args.device_id) {
            request = await crypto.requestDeviceVerification(args.user_id, args.device_id);
        } else if (args.user_id === client.getUserId()) {
            request = await crypto.requestOwnUserVerification();
        } else {
            throw new Error("verifying another user needs a device_id (to-device flow)");
        }
        return verificationSummary(trackVerification(request));
    },

    async verification(args) {
        requireClient();
        return verificationSummary(pickVerification(args));
    },

    async accept_verification(args) {
        requireClient();
        const entry = pickVerification(args);
        await entry.request.accept();
        return verificationSummary(entry);
    },

    async start_sas(args) {
        requireClient();
        const entry = pickVerification(args);
        if (entry.request.phase !== VerificationPhase.Ready) {
            throw new Error(`request is ${VerificationPhase[entry.request.phase]}, not Ready`);
        }
        entry.startedByMe = true;
        const verifier = await entry.request.startVerification("m.sas.v1");
        if (verifier !== entry.verifier) hookVerifier(entry, verifier);
        runVerifier(entry);
        return verificationSummary(entry);
    },

    async confirm_sas(args) {
        requireClient();
        const entry = pickVerification(args);
        if (!entry.sas) throw new Error("no SAS shown yet for this request");
        await entry.sas.confirm();
        return verificationSummary(entry);
    },

    async mismatch_sas(args) {
        requireClient();
        const entry = pickVerification(args);
        if (!entry.sas) throw new Error("no SAS shown yet for this request");
        entry.sas.mismatch();
        return verificationSummary(entry);
    },

    async cancel_verification(args) {
        requireClient();
        const entry = pickVerification(args);
        await entry.request.cancel({ reason: args.reason, code: args.code });
        return verificationSummary(entry);
    },

    async stop() {
        if (client) client.stopClient();
        setTimeout(() => process.exit(0), 50);
        return {};
    },
};

async function waitForRoom(roomId, encrypted, timeoutMs) {
    await until(
        `room ${roomId} in sync${encrypted ? " with encryption enabled" : ""}`,
        async () =>
            client.getRoom(roomId)?.getMyMembership() === "join" &&
            (!encrypted || (await crypto.isEncryptionEnabledInRoom(roomId))),
        timeoutMs,
    );
}

async function requireRoom(roomId) {
    requireClient();
    const room = client.getRoom(roomId);
    if (!room || room.getMyMembership() !== "join") {
        throw new Error(`not joined to ${roomId} (as far as this peer's sync knows)`);
    }
    return room;
}

// -- main loop ---------------------------------------------------------------------------------

const concurrent = new Set(["wait_message", "backup_info", "wait_invite", "messages", "device_status"]);
let queue = Promise.resolve();

async function run(message) {
    const { id, cmd, ...args } = message;
    const handler = Object.hasOwn(commands, cmd) ? commands[cmd] : null;
    if (!handler) {
        send({ id, ok: false, error: `unknown command ${JSON.stringify(cmd)}` });
        return;
    }
    const started = Date.now();
    console.info(`>> ${id} ${cmd}`);
    try {
        const result = await handler(args);
        console.info(`<< ${id} ${cmd} ok (${Date.now() - started} ms)`);
        send({ id, ok: true, result: result ?? null });
    } catch (err) {
        console.error(`<< ${id} ${cmd} failed (${Date.now() - started} ms)`, err);
        send({ id, ok: false, error: errorText(err) });
    }
}

process.on("unhandledRejection", (err) => console.error("unhandled rejection", err));
process.on("uncaughtException", (err) => console.error("uncaught exception", err));

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on("line", (line) => {
    if (!line.trim()) return;
    let message;
    try {
        message = JSON.parse(line);
    } catch (err) {
        send({ id: null, ok: false, error: `bad JSON: ${errorText(err)}` });
        return;
    }
    if (concurrent.has(message.cmd)) {
        run(message);
    } else {
        queue = queue.then(() => run(message));
    }
});
lines.on("close", () => {
    // pytest went away: stop syncing and leave.
    queue.then(() => {
        if (client) client.stopClient();
        process.exit(0);
    });
});

push("ready", { pid: process.pid, node: process.version });
