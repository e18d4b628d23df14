# tls_certs.sh — a throwaway CA and a localhost server certificate it signed,
# for the TLS phases of the Slack end-to-end test and benchmark.
# make_test_certs DIR "CA name": writes DIR/ca.pem, DIR/srv.pem, DIR/srv.key.
make_test_certs() {
	mkdir -p "$1"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1/ca.key" -out "$1/ca.pem" -days 2 -subj "/CN=$2" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" > /dev/null 2>&1
	openssl req -newkey rsa:2048 -nodes -keyout "$1/srv.key" -out "$1/srv.csr" -subj "/CN=localhost" > /dev/null 2>&1
	printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > "$1/ext.cnf"
	openssl x509 -req -in "$1/srv.csr" -CA "$1/ca.pem" -CAkey "$1/ca.key" -CAcreateserial -out "$1/srv.pem" -days 2 \
		-extfile "$1/ext.cnf" > /dev/null 2>&1
}
